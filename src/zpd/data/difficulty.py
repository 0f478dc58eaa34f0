"""Difficulty relative to a model: pass rates from k sampled, verified completions per item.

What it is: :class:`DifficultyScorer` samples k completions per prompt (``sampling``), verifies each
against the reference (``verify``) and reports per item the successes, the pass rate with an
interval (Wilson score, Jeffreys or Clopper-Pearson), and pass@k — the unbiased estimator of Chen
et al., "Evaluating Large Language Models Trained on Code" (arXiv 2107.03374). :func:`score_difficulty`
runs it over a file (resumable, ``--ray``-able). :func:`curriculum_features` and :func:`warm_start`
turn a result file into a warm-started :class:`zpd.Curriculum`: the ``static`` policy reads the
pass rates as its offline difficulty (AdaRFT-like, arXiv 2504.05520); the ``zpd`` policy also gets
the k observed rewards per item as its first observation, so its posterior starts where the
offline model stands. What it is not: online tracking (that is the core's job).
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from zpd.data.errors import DataError
from zpd.data.io import FieldSpec, Item, meta_path, parse_enum, read_results
from zpd.data.pipeline import RunConfig, RunSummary, run_file
from zpd.data.ray_backend import RayConfig, executor_for
from zpd.data.sampling import Backend, HFSampler, Sampler, SamplingConfig, VLLMSampler
from zpd.data.verify import Verifier, load_verifier


class IntervalKind(str, Enum):
    """Confidence interval for a binomial pass rate."""

    WILSON = "wilson"
    JEFFREYS = "jeffreys"
    CLOPPER_PEARSON = "clopper-pearson"


def pass_rate_interval(successes: Any, n: Any, *, kind: IntervalKind | str = "wilson",
                       confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided interval for pass rates ``successes / n`` (arrays (N,)); fractional successes ok.

    Wilson: score interval (closed form). Jeffreys: Beta(s + 1/2, n - s + 1/2) quantiles.
    Clopper-Pearson: exact Beta(s, n - s + 1) / Beta(s + 1, n - s) quantiles (conservative).
    """
    how = parse_enum(IntervalKind, kind, "interval")
    if not 0.0 < confidence < 1.0:
        raise DataError(f"confidence must be in (0, 1); got {confidence}")
    s = np.asarray(successes, dtype=np.float64)  # (N,)
    m = np.asarray(n, dtype=np.float64)  # (N,)
    if np.any(m <= 0) or np.any(s < 0) or np.any(s > m):
        raise DataError("need n >= 1 and 0 <= successes <= n for every item")
    alpha = 1.0 - confidence
    if how is IntervalKind.WILSON:
        z = statistics.NormalDist().inv_cdf(1.0 - alpha / 2.0)
        p = s / m
        centre = (p + z * z / (2 * m)) / (1 + z * z / m)
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
        return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    from scipy.stats import beta

    if how is IntervalKind.JEFFREYS:
        lo = beta.ppf(alpha / 2, s + 0.5, m - s + 0.5)
        hi = beta.ppf(1 - alpha / 2, s + 0.5, m - s + 0.5)
        return np.where(s > 0, lo, 0.0), np.where(s < m, hi, 1.0)
    lo = beta.ppf(alpha / 2, np.maximum(s, 1e-12), m - s + 1)
    hi = beta.ppf(1 - alpha / 2, s + 1, np.maximum(m - s, 1e-12))
    return np.where(s > 0, lo, 0.0), np.where(s < m, hi, 1.0)


def pass_at_k(n: Any, c: Any, k: int) -> np.ndarray:
    """Unbiased pass@k = 1 - C(n-c, k) / C(n, k) per item (arXiv 2107.03374); needs k <= n."""
    n_arr = np.asarray(n, dtype=np.int64)
    c_arr = np.asarray(c, dtype=np.int64)
    if k < 1 or np.any(n_arr < k):
        raise DataError(f"pass@k needs 1 <= k <= n samples; got k={k}, min n={n_arr.min()}")
    out = np.empty(n_arr.shape, dtype=np.float64)
    for i, (nn, cc) in enumerate(zip(n_arr.ravel(), c_arr.ravel())):
        # product form avoids huge binomials: C(n-c,k)/C(n,k) = prod_{j=n-c+1}^{n} (1 - k/j)
        out.ravel()[i] = 1.0 if nn - cc < k else 1.0 - math.prod(
            1.0 - k / j for j in range(nn - cc + 1, nn + 1))
    return out


@dataclass(frozen=True)
class DifficultyConfig:
    """Settings of pass-rate scoring."""

    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    """How the k completions per prompt are drawn."""
    verifier: str = "exact"
    """``exact``, ``numeric`` or ``module:function`` (see ``zpd.data.verify``)."""
    interval: IntervalKind = IntervalKind.WILSON
    """Interval for the pass rate: wilson, jeffreys or clopper-pearson."""
    confidence: float = 0.95
    """Two-sided confidence of the interval."""
    keep_completions: bool = False
    """Store the completions and their rewards in each record (large; for debugging)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval", parse_enum(IntervalKind, self.interval, "interval"))
        if not 0.0 < self.confidence < 1.0:
            raise DataError(f"confidence must be in (0, 1); got {self.confidence}")
        if not isinstance(self.verifier, str) or not self.verifier:
            raise DataError("verifier must be 'exact', 'numeric' or 'module:function'")


class DifficultyScorer:
    """Pass rates of prompts under a model; ``score`` returns records aligned to the input."""

    def __init__(self, sampler: Sampler, config: DifficultyConfig | None = None,
                 verifier: Verifier | None = None):
        self.config = config or DifficultyConfig()
        self.sampler = sampler
        self.verifier = verifier or load_verifier(self.config.verifier)

    def score(self, prompts: Sequence[str], answers: Sequence[str],
              rows: Sequence[Mapping[str, Any]] | None = None, *, seed: int | None = None
              ) -> list[dict[str, Any]]:
        """One record per prompt: n, successes, pass_rate, lower, upper, pass_at_k."""
        if len(prompts) != len(answers):
            raise DataError(f"got {len(prompts)} prompts but {len(answers)} answers")
        cfg = self.config
        rows = rows if rows is not None else [{} for _ in prompts]
        completions = self.sampler.sample(list(prompts), cfg.sampling.seed if seed is None
                                          else seed)
        rewards = np.array([[self.verifier(c, a, r) for c in comps]
                            for comps, a, r in zip(completions, answers, rows)])  # (N, k)
        rewards = rewards.reshape(len(prompts), -1)
        n = np.full(len(prompts), rewards.shape[1], dtype=np.int64)
        succ = rewards.sum(axis=1)
        lo, hi = pass_rate_interval(succ, n, kind=cfg.interval, confidence=cfg.confidence)
        any_ok = (rewards >= 1.0).any(axis=1)  # pass@k with k = n: some sample fully correct
        out = []
        for i in range(len(prompts)):
            rec = {"n": int(n[i]), "successes": float(succ[i]), "pass_rate": float(succ[i] / n[i]),
                   "lower": float(lo[i]), "upper": float(hi[i]), "pass_at_k": float(any_ok[i])}
            if cfg.keep_completions:
                rec["completions"] = completions[i]
                rec["rewards"] = rewards[i].tolist()
            out.append(rec)
        return out


class _DifficultyBatch:
    def __init__(self, scorer: DifficultyScorer):
        self.scorer = scorer

    def __call__(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        if not items:
            return []
        seed = self.scorer.config.sampling.seed * 1_000_003 + items[0].row
        return self.scorer.score([str(it.text["prompt"]) for it in items],
                                 [str(it.text["answer"]) for it in items],
                                 [it.raw for it in items], seed=seed)


@dataclass(frozen=True)
class DifficultyTask:
    """Picklable description of a pass-rate scoring job (see ``pipeline.Task``)."""

    model: str
    """Local Hugging Face model directory."""
    config: DifficultyConfig = field(default_factory=DifficultyConfig)
    """Scoring settings."""
    backend: Backend = Backend.TRANSFORMERS
    """transformers (default) or vllm."""
    device: str = "auto"
    """Torch device for the transformers backend."""
    dtype: str = "auto"
    """Weights dtype for the transformers backend."""
    bos: str = "auto"
    """What goes before every sequence: auto (the tokenizer\'s own convention), always
    (force BOS, else EOS) or never (``zpd.data.model_io.BosMode``)."""

    def settings(self) -> dict[str, Any]:
        cfg = asdict(self.config)
        cfg["interval"] = self.config.interval.value
        cfg["sampling"].pop("batch_prompts")  # throughput knob; does not change results' meaning
        return {"command": "score difficulty", "model": str(Path(self.model).resolve()),
                "backend": Backend(self.backend).value, "dtype": self.dtype, "bos": self.bos, "config": cfg}

    def __call__(self) -> _DifficultyBatch:
        verifier = load_verifier(self.config.verifier)
        if Backend(self.backend) is Backend.VLLM:
            sampler: Sampler = VLLMSampler(self.model, self.config.sampling)
        else:
            from zpd.data.model_io import load_model

            sampler = HFSampler(load_model(self.model, device=self.device, dtype=self.dtype,
                        bos=self.bos),
                                self.config.sampling)
        return _DifficultyBatch(DifficultyScorer(sampler, self.config, verifier))


def score_difficulty(
    data: str | os.PathLike[str],
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    prompt_field: str = "prompt",
    answer_field: str = "answer",
    id_field: str | None = None,
    category_field: str | None = None,
    config: DifficultyConfig | None = None,
    run: RunConfig | None = None,
    backend: Backend | str = Backend.TRANSFORMERS,
    device: str = "auto",
    dtype: str = "auto",
    bos: str = "auto",
    ray: RayConfig | None = None,
) -> RunSummary:
    """API twin of ``zpd score difficulty``: per-item pass rate with an interval into ``out``."""
    from zpd.data.model_io import check_generation_memory, model_context

    context = model_context(model)
    cfg = config or DifficultyConfig()
    if context is not None and cfg.sampling.max_new_tokens >= context:
        raise DataError(f"max_new_tokens={cfg.sampling.max_new_tokens} leaves no room for a "
                        f"prompt in the model's {context} positions ({model}); lower it")
    s = cfg.sampling
    check_generation_memory(model, s.batch_prompts * s.k,
                            min(context or 2**31, s.max_new_tokens + 256))
    load_verifier(cfg.verifier)  # a bad verifier fails before any work
    spec = FieldSpec(required=(("prompt", prompt_field), ("answer", answer_field)),
                     id=id_field, category=category_field)
    task = DifficultyTask(model=str(model), config=cfg,
                          backend=parse_enum(Backend, backend, "backend"), device=device,
                          dtype=dtype, bos=bos)
    return run_file(data, spec, out, task, run, executor=executor_for(ray), desc="difficulty")


@dataclass
class DifficultyTable:
    """A difficulty result file as arrays aligned by record (see :func:`load_difficulty`)."""

    row: np.ndarray  # (M,) int64 dataset row = curriculum item id
    n: np.ndarray  # (M,) samples per item
    successes: np.ndarray  # (M,)
    pass_rate: np.ndarray  # (M,)
    lower: np.ndarray  # (M,)
    upper: np.ndarray  # (M,)
    category: list[Any]  # (M,) category per record (None if absent)
    num_rows: int  # rows of the scored dataset (skipped rows included)


def load_difficulty(path: str | os.PathLike[str]) -> DifficultyTable:
    """Read a ``score difficulty`` result file (skipped rows left out)."""
    cols: dict[str, list[Any]] = {k: [] for k in ("row", "n", "successes", "pass_rate",
                                                 "lower", "upper", "category")}
    for rec in read_results(path):
        if "pass_rate" not in rec:
            raise DataError(f"{path} is not a difficulty result file (row {rec.get('row')} has no "
                            "pass_rate); run `zpd score difficulty` to make one")
        for k in cols:
            cols[k].append(rec.get(k))
    num_rows = max(cols["row"], default=-1) + 1
    mpath = meta_path(path)
    if mpath.exists():
        import json

        summary = json.loads(mpath.read_text(encoding="utf-8")).get("summary") or {}
        num_rows = max(num_rows, int(summary.get("rows", 0)))
    arr = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items() if k != "category"}
    return DifficultyTable(row=arr["row"].astype(np.int64), n=arr["n"], successes=arr["successes"],
                           pass_rate=arr["pass_rate"], lower=arr["lower"], upper=arr["upper"],
                           category=cols["category"], num_rows=num_rows)


def curriculum_features(results: str | os.PathLike[str] | DifficultyTable,
                        num_items: int | None = None) -> dict[str, np.ndarray]:
    """Features for ``zpd.Curriculum(features=...)`` from a difficulty result (NaN = not scored).

    ``prior_pass_rate`` is the name the core's ``static`` policy reads as its offline pass rate;
    ``prior_uncertainty`` (interval width) is a second numeric feature for the ability model's
    cold start. (No separate ``difficulty`` = 1 - p: a collinear copy would only add noise to the
    feature model.) Item id = dataset row.
    """
    table = results if isinstance(results, DifficultyTable) else load_difficulty(results)
    n = table.num_rows if num_items is None else int(num_items)
    if table.row.size and table.row.max() >= n:
        raise DataError(f"num_items={n} but the results reach row {int(table.row.max())}; "
                        "item ids are dataset rows")
    p = np.full(n, np.nan)
    width = np.full(n, np.nan)
    p[table.row] = table.pass_rate
    width[table.row] = table.upper - table.lower
    return {"prior_pass_rate": p, "prior_uncertainty": width}


def _without_offline_seed(config: Any) -> Any:
    """``config`` with ``ability.offline_samples = 0`` (dict, CurriculumConfig or None)."""
    import dataclasses

    import zpd

    if config is None:
        return {"ability": {"offline_samples": 0.0}}
    if isinstance(config, zpd.CurriculumConfig):
        return dataclasses.replace(
            config, ability=dataclasses.replace(config.ability, offline_samples=0.0))
    merged = {key: dict(value) for key, value in dict(config).items()}
    merged.setdefault("ability", {})["offline_samples"] = 0.0
    return merged


def warm_start(
    results: str | os.PathLike[str] | DifficultyTable,
    *,
    policy: Any = "zpd",
    num_items: int | None = None,
    group_size: int = 8,
    seed: int = 0,
    features: Mapping[str, Any] | None = None,
    config: Any = None,
    observe: bool | None = None,
) -> Any:
    """A ``zpd.Curriculum`` that starts from an offline difficulty result.

    Features from :func:`curriculum_features` (merged with ``features``) are always passed, so the
    ``static`` policy has its offline band. With ``observe`` (default: every policy but ``static``,
    whose band target would move on these offline rewards) the k verified samples of each scored
    item are fed to ``update`` once, as fractional rewards (pass_rate repeated n times: the same
    pooled successes and trials), so the tracker's posterior and the ability model start there.
    """
    import zpd

    table = results if isinstance(results, DifficultyTable) else load_difficulty(results)
    feats: dict[str, Any] = dict(curriculum_features(table, num_items))
    n_items = len(feats["prior_pass_rate"])
    feats.update(features or {})
    if observe is None:
        observe = zpd.core.config.PolicyName.parse(getattr(policy, "name", policy)) is not \
            zpd.PolicyName.STATIC
    if observe:  # the samples enter once, through update: no second seeding from the feature
        config = _without_offline_seed(config)
    cur = zpd.Curriculum(n_items, policy=policy, group_size=group_size, seed=seed,
                         features=feats, config=config)
    if observe and table.row.size:
        for trials in np.unique(table.n).astype(np.int64):  # update needs one G per call
            sel = table.n == trials
            rewards = np.repeat(table.pass_rate[sel][:, None], trials, axis=1)  # (m, n)
            cur.update(table.row[sel], rewards)
    return cur
