"""Do the NLL-based data tools find bad rows on the lab's own model? (issue 13's floor)

A pool of string reversals the shipped lab base learned (2-6 digits), 20 % of them with one answer
digit corrupted. EL2N (arXiv 2107.07075) and the answer NLL given the prompt rank every row; the
floor is that >= 90 % of the corrupted rows land in the top 20 % of each ranking. The same run
with a BOS forced in front (what every scorer did before it followed the tokenizer's own
convention) is printed beside it as the baseline.

    python benchmarks/data_quality.py
"""

from __future__ import annotations

import sys

import numpy as np

from zpd.data.distance import DistanceConfig, DistanceScorer
from zpd.data.model_io import load_model
from zpd.data.selection import EL2NScorer
from zpd.lab import tasks
from zpd.lab.experiments import demo_config
from zpd.lab.pretrain import SHIPPED


def pool(n: int = 300, share: float = 0.2, seed: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    items = tasks.make_items(tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(2, 6),
                                              n_items=n), rng, unique=True)
    bad = np.zeros(n, dtype=bool)
    bad[rng.choice(n, size=int(share * n), replace=False)] = True
    answers = [tasks.render_completion(it, answer=tasks.corrupt_answer(it.answer, rng)
                                       if b else None) for it, b in zip(items, bad)]
    return [it.prompt for it in items], answers, bad


def found(score: np.ndarray, bad: np.ndarray) -> float:
    """Share of the bad rows among the top ``bad.sum()`` scores (highest = most suspect)."""
    top = np.argsort(-score, kind="stable")[: int(bad.sum())]
    return float(bad[top].mean())


def main() -> int:
    base = SHIPPED / demo_config().pretrain.fingerprint() / "final"
    prompts, answers, bad = pool()
    ok = True
    print(f"{int(bad.sum())} of {bad.size} rows corrupted (one answer digit), lab base {base.name}")
    print(f"{'bos':<8}{'EL2N finds':>12}{'NLL(y|x) finds':>16}{'NLL(y|x) clean':>16}")
    for bos in ("auto", "always"):
        lm = load_model(base, device="cpu", bos=bos)
        el2n = EL2NScorer([lm]).score(prompts, answers)
        nll = DistanceScorer(lm, DistanceConfig(reverse=False)).score(prompts, answers)[
            "nll_answer_given_prompt"]
        fe, fn = found(el2n, bad), found(nll, bad)
        print(f"{bos:<8}{fe:>12.2f}{fn:>16.2f}{float(np.mean(nll[~bad])):>16.3f}")
        if bos == "auto":
            for name, value in (("EL2N", fe), ("answer NLL", fn)):
                passed = value >= 0.9
                ok &= passed
                print(f"{'PASS' if passed else 'FAIL'}  {name} puts {value:.0%} of the corrupted "
                      "rows in its top 20 % (floor >= 90 %)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
