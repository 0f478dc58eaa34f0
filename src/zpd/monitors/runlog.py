"""Reading a run's metrics log back: per-family health summary for ``zpd watch``.

What it is: ``read_run(path)`` parses ``<run_dir>/metrics.jsonl`` (the format ``JsonlSink``
writes; flat rows ``{"step": s, "<key>": value, ...}`` are accepted too) into a ``RunHealth``:
for every monitor family, last/min/max of its metrics and the alerts raised (grouped, with the
steps they were raised at) and a verdict; ``format_run`` renders it as text. What it is not: a
plotting tool or a live dashboard (use the TensorBoard/MLflow sinks for that).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zpd.monitors.base import Alert, Severity
from zpd.monitors.errors import MonitorInputError
from zpd.monitors.sinks import METRICS_FILE
from zpd.monitors.suite import FAMILIES, NAMESPACE

KEY_METRICS: dict[str, tuple[str, ...]] = {
    "groups": ("zero_variance_share", "all_correct_share", "all_wrong_share", "truncation_rate",
               "mean_reward"),
    "repetition": ("top_answer_share", "top_answer_pvalue", "echo_rate", "no_answer_rate"),
    "skipping": ("skip_share", "skip_share_trend", "length_ratio_median"),
    "accidental": ("accidental_advantage_mass", "accidental_share", "near_impossible_group_share"),
    "kl": ("k3", "k1", "k3_ema", "cumulative", "drift_pressure"),
    "formats": ("top_share", "entropy", "normalized_entropy", "num_formats"),
    "diversity": ("token_entropy", "distinct_answers_unsolved", "distinct_answers_solved"),
    "coupling": ("spearman_all", "spearman_in", "spearman_out", "decoupling_pvalue"),
    "retention": (),  # per-set keys; all are key metrics
}
"""Metrics printed first for each family (``--all`` prints every metric)."""

VERDICTS = ("not logged", "ok", "note", "warning", "critical")
"""Verdict scale, mildest first: ``note`` means info alerts only."""


@dataclass(frozen=True)
class MetricSummary:
    """One metric over a run: last/min/max of its finite values and where it was seen."""

    last: float
    min: float
    max: float
    count: int
    first_step: int
    last_step: int


@dataclass(frozen=True)
class AlertSummary:
    """Alerts of one monitor metric and severity, grouped over a run."""

    monitor: str
    metric: str
    severity: str
    count: int
    first_step: int
    last_step: int
    last_message: str
    steps: list[int] = field(default_factory=list)
    """Every step at which it was raised."""


@dataclass(frozen=True)
class FamilyHealth:
    """Health of one monitor family over a run."""

    name: str
    verdict: str
    metrics: dict[str, MetricSummary]
    alerts: list[AlertSummary]


@dataclass(frozen=True)
class RunHealth:
    """What ``zpd watch`` reports for one run."""

    path: str
    records: int
    first_step: int | None
    last_step: int | None
    verdict: str
    families: list[FamilyHealth]
    other: dict[str, dict[str, MetricSummary]]
    """Non-health namespaces (``curriculum``, ``lab``, ...) -> metric summaries."""
    skipped_lines: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``zpd watch --json``)."""
        out: dict[str, Any] = _jsonable(asdict(self))
        return out


def metrics_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself when it is a file, else ``path/metrics.jsonl``."""
    p = Path(path)
    return p if p.is_file() else p / METRICS_FILE


def read_run(path: str | os.PathLike[str]) -> RunHealth:
    """Summarise a run directory (or a JSONL file) into a ``RunHealth``."""
    file = metrics_path(path)
    if not file.is_file():
        raise MonitorInputError(f"no {METRICS_FILE} at {path}: pass a run directory written by "
                                "zpd.monitors.JsonlSink (or the JSONL file itself)")
    series: dict[str, list[tuple[int, float]]] = {}
    alerts: list[Alert] = []
    steps: list[int] = []
    skipped = 0
    for record in _records(file):
        if record is None:
            skipped += 1
            continue
        step, metrics, rec_alerts = record
        steps.append(step)
        for k, v in metrics.items():
            series.setdefault(k, []).append((step, v))
        alerts.extend(rec_alerts)
    summaries = {k: s for k, v in series.items() if (s := _summarise(v)) is not None}
    families = _families(summaries, alerts)
    other: dict[str, dict[str, MetricSummary]] = {}
    for key, s in summaries.items():
        ns, _, rest = key.partition("/")
        if ns != NAMESPACE:
            other.setdefault(ns if rest else "", {})[rest or key] = s
    worst = max((f.verdict for f in families), key=VERDICTS.index, default="not logged")
    return RunHealth(
        path=str(file), records=len(steps), first_step=min(steps) if steps else None,
        last_step=max(steps) if steps else None,
        verdict="no data" if not steps else ("ok" if worst == "not logged" else worst),
        families=families, other=other, skipped_lines=skipped,
    )


def _records(file: Path) -> Iterator[tuple[int, dict[str, float], list[Alert]] | None]:
    """Parsed lines; None for a malformed line (a partial last line of a live run, say). A
    UTF-8 byte-order mark is allowed; bytes that are not UTF-8 text, or a file none of whose
    lines is a step record, are a ``MonitorInputError`` naming the file."""
    good = bad = 0
    with open(file, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise MonitorInputError(
                    f"{file}: line {number} is not UTF-8 text; this is not a metrics log (pass "
                    "the metrics.jsonl a zpd.monitors.JsonlSink wrote)") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                record = _parse(obj)
            except (json.JSONDecodeError, MonitorInputError, TypeError, ValueError, KeyError):
                bad += 1
                yield None
                continue
            good += 1
            yield record
    if bad and not good:
        raise MonitorInputError(
            f"{file}: none of its {bad} line(s) is a step record (a JSON object with a 'step'); "
            "this is not a metrics log (pass the metrics.jsonl a zpd.monitors.JsonlSink wrote)")


def _parse(obj: Any) -> tuple[int, dict[str, float], list[Alert]]:
    if not isinstance(obj, Mapping) or isinstance(obj.get("step"), bool):
        raise ValueError("not a step record")
    step = int(obj["step"])
    if isinstance(obj.get("metrics"), Mapping):
        raw: Mapping[str, Any] = obj["metrics"]
    else:  # a flat row: every numeric field except step/time is a metric
        raw = {k: v for k, v in obj.items() if k not in ("step", "time", "alerts")}
    metrics = {str(k): float(v) for k, v in raw.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    alerts = [Alert.from_dict(a) for a in obj.get("alerts") or []]
    return step, metrics, alerts


def _summarise(points: list[tuple[int, float]]) -> MetricSummary | None:
    finite = [(s, v) for s, v in points if math.isfinite(v)]
    if not finite:
        return None
    values = [v for _, v in finite]
    return MetricSummary(last=finite[-1][1], min=min(values), max=max(values), count=len(finite),
                         first_step=finite[0][0], last_step=finite[-1][0])


def _families(summaries: Mapping[str, MetricSummary], alerts: list[Alert]) -> list[FamilyHealth]:
    prefix = f"{NAMESPACE}/"
    per_family: dict[str, dict[str, MetricSummary]] = {f: {} for f in FAMILIES}
    for key, s in summaries.items():
        if key.startswith(prefix):
            fam, _, rest = key[len(prefix):].partition("/")
            per_family.setdefault(fam, {})[rest] = s
    grouped: dict[tuple[str, str, str], list[Alert]] = {}
    for a in alerts:
        per_family.setdefault(a.monitor, {})
        grouped.setdefault((a.monitor, a.metric, a.severity.value), []).append(a)
    out = []
    for fam, metrics in per_family.items():
        fam_alerts = [_group(v) for k, v in grouped.items() if k[0] == fam]
        fam_alerts.sort(key=lambda a: (-Severity(a.severity).rank, a.first_step))
        if fam_alerts:
            worst = max(Severity(a.severity).rank for a in fam_alerts)
            verdict = ("note", "warning", "critical")[worst]
        else:
            verdict = "ok" if metrics else "not logged"
        out.append(FamilyHealth(fam, verdict, metrics, fam_alerts))
    return out


def _group(alerts: list[Alert]) -> AlertSummary:
    steps = sorted({a.step for a in alerts})
    last = max(alerts, key=lambda a: a.step)
    return AlertSummary(monitor=last.monitor, metric=last.metric, severity=last.severity.value,
                        count=len(alerts), first_step=steps[0], last_step=steps[-1],
                        last_message=last.message, steps=steps)


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


# ---------------------------------------------------------------------- text rendering
def format_run(health: RunHealth, *, all_metrics: bool = False, max_steps_listed: int = 8) -> str:
    """Render a ``RunHealth`` as the text ``zpd watch`` prints."""
    if health.records == 0:
        return f"{health.path}: no records yet (verdict: no data)"
    lines = [
        f"run: {health.path}",
        f"steps {health.first_step}..{health.last_step} ({health.records} records"
        + (f", {health.skipped_lines} unreadable lines skipped" if health.skipped_lines else "")
        + f")   verdict: {health.verdict.upper()}",
        "",
    ]
    for fam in health.families:
        lines.append(f"[{fam.verdict}] {fam.name}")
        keys = _keys_to_show(fam, all_metrics)
        width = max((len(k) for k in keys), default=0)
        for k in keys:
            s = fam.metrics[k]
            lines.append(f"    {k:<{width}}  last {_fmt(s.last)} (step {s.last_step})   "
                         f"min {_fmt(s.min)}   max {_fmt(s.max)}")
        if len(keys) < len(fam.metrics):
            lines.append(f"    ... {len(fam.metrics) - len(keys)} more metrics (--all)")
        for a in fam.alerts:
            shown = ", ".join(map(str, a.steps[:max_steps_listed]))
            more = f", ... ({a.count} steps)" if len(a.steps) > max_steps_listed else ""
            lines.append(f"    ! {a.severity} x{a.count} at steps {shown}{more}: {a.last_message}")
    for ns, metrics in health.other.items():
        keys = sorted(metrics) if all_metrics else sorted(metrics)[:6]
        lines.append(f"[{ns or 'top-level'}] (not a monitor family)")
        for k in keys:
            s = metrics[k]
            lines.append(f"    {k}  last {_fmt(s.last)}   min {_fmt(s.min)}   max {_fmt(s.max)}")
        if len(keys) < len(metrics):
            lines.append(f"    ... {len(metrics) - len(keys)} more metrics (--all)")
    return "\n".join(lines)


def _keys_to_show(fam: FamilyHealth, all_metrics: bool) -> list[str]:
    keys = [k for k in KEY_METRICS.get(fam.name, ()) if k in fam.metrics]
    return sorted(fam.metrics) if all_metrics or not keys else keys


def _fmt(x: float) -> str:
    return f"{x:.4g}"
