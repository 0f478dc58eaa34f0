"""Where monitor metrics and alerts go: JSONL always, TensorBoard / W&B / MLflow when installed.

What it is: the ``Sink`` protocol (``log(step, metrics, alerts)``, ``close()``) and its
implementations. ``JsonlSink`` writes ``metrics.jsonl`` — one JSON object per step, the format
``zpd watch`` reads (docs/monitors.md). The others go through each tool's own client, imported
lazily: TensorBoard event files (``torch.utils.tensorboard`` or ``tensorboardX``), an MLflow file
store (``file:`` URI, no server), Weights & Biases in offline mode; none needs the network.
What it is not: a metrics registry or aggregator — sinks write what they are given.
"""

from __future__ import annotations

import enum
import importlib.util
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from zpd.monitors.base import Alert, finite_or_none
from zpd.monitors.errors import MonitorInputError, SinkUnavailableError

METRICS_FILE = "metrics.jsonl"
"""File name of the JSONL metrics log inside a run directory."""


@runtime_checkable
class Sink(Protocol):
    """Receives one step's metrics (namespaced keys -> float) and alerts."""

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Alert] = ()) -> None:
        """Record one step."""
        ...

    def close(self) -> None:
        """Flush and release files/runs; further ``log`` calls are errors."""
        ...


class SinkKind(str, enum.Enum):
    """Sink choices by name (strings accepted at the edge)."""

    JSONL = "jsonl"
    TENSORBOARD = "tensorboard"
    MLFLOW = "mlflow"
    WANDB = "wandb"


def check_record(step: int, metrics: Mapping[str, Any]) -> dict[str, float]:
    """Validate a step and metrics; return metrics as ``{str: float}`` (NaN allowed)."""
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise MonitorInputError(f"step={step!r}: pass a non-negative int")
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if not isinstance(k, str) or not k:
            raise MonitorInputError(f"metric key {k!r}: keys must be non-empty strings")
        try:
            if isinstance(v, (bool, str, bytes)):
                raise TypeError
            out[k] = float(v)
        except (TypeError, ValueError):
            raise MonitorInputError(f"metric {k!r}={v!r}: values must be numbers") from None
    return out


class JsonlSink:
    """Appends one JSON object per step to ``<run_dir>/metrics.jsonl``.

    Line format: ``{"step": int, "time": unix seconds, "metrics": {key: float|null},
    "alerts": [alert dicts]}`` (non-finite floats become ``null``). Each line is written with one
    ``write`` on an ``O_APPEND`` descriptor and fsync'ed (``fsync=True``), so a crash loses at
    most the line being written and ``zpd watch`` can read a live run.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        p = Path(path)
        self.path = p if p.suffix == ".jsonl" else p / METRICS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Alert] = ()) -> None:
        """Append one line; raises ``MonitorInputError`` on bad input (nothing written)."""
        if self._fd is None:
            raise MonitorInputError(f"JsonlSink({self.path}) is closed")
        values = check_record(step, metrics)
        record = {
            "step": step,
            "time": round(time.time(), 3),
            "metrics": {k: finite_or_none(v) for k, v in values.items()},
            "alerts": [_alert(a).to_dict() for a in alerts],
        }
        data = (json.dumps(record, allow_nan=False, sort_keys=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        if self._fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class TensorBoardSink:
    """Writes scalars (and alerts as text) to TensorBoard event files under ``log_dir``.

    Uses ``torch.utils.tensorboard.SummaryWriter`` (or ``tensorboardX``); the count of alerts per
    step goes to the scalar ``alerts/count`` and each alert to the text tag ``alerts/<monitor>``.
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        writer_cls = _summary_writer_class()
        self.log_dir = Path(log_dir)
        self._writer: Any = writer_cls(log_dir=str(self.log_dir))

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Alert] = ()) -> None:
        """Add one scalar per finite metric, the alert count, and alert texts; then flush."""
        if self._writer is None:
            raise MonitorInputError(f"TensorBoardSink({self.log_dir}) is closed")
        values = check_record(step, metrics)
        for k, v in values.items():
            if math.isfinite(v):
                self._writer.add_scalar(k, v, global_step=step)
        self._writer.add_scalar("alerts/count", float(len(alerts)), global_step=step)
        for a in map(_alert, alerts):
            text = f"**{a.severity.value}** ({a.metric} = {a.value:.4g}): {a.message}"
            self._writer.add_text(f"alerts/{a.monitor}", text, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (idempotent)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class MLflowSink:
    """Logs metrics to an MLflow run through ``MlflowClient`` (a ``file:`` store needs no server).

    ``tracking_uri``: an MLflow URI, or a local directory (turned into a ``file:`` URI; recent
    MLflow needs ``MLFLOW_ALLOW_FILE_STORE=true`` for it, which this sink sets unless the
    environment already says otherwise). Alerts are
    kept and written as the artifact ``alerts.jsonl`` on ``close``; the per-step count goes to the
    metric ``alerts/count``.
    """

    def __init__(self, tracking_uri: str | os.PathLike[str], experiment: str = "zpd",
                 run_name: str | None = None) -> None:
        client_cls = _import("mlflow.tracking", "MlflowClient", "mlflow-skinny")
        self._metric_cls = _import("mlflow.entities", "Metric", "mlflow-skinny")
        uri = str(tracking_uri)
        if "://" not in uri and not uri.startswith("file:"):
            Path(uri).mkdir(parents=True, exist_ok=True)
            uri = Path(uri).resolve().as_uri()
        if uri.startswith("file:"):
            # MLflow >= 3.7 refuses the file store unless opted in; a local directory is an
            # explicit request for one. A user's own MLFLOW_ALLOW_FILE_STORE setting wins.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.tracking_uri = uri
        self.client: Any = client_cls(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(experiment)
        self.run_id: str = self.client.create_run(exp_id, run_name=run_name).info.run_id
        self._alerts: list[dict[str, Any]] = []
        self._closed = False

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Alert] = ()) -> None:
        """Log finite metrics and the alert count in one ``log_batch`` call."""
        if self._closed:
            raise MonitorInputError("MLflowSink is closed")
        values = check_record(step, metrics)
        ts = int(time.time() * 1000)
        values["alerts/count"] = float(len(alerts))
        batch = [self._metric_cls(k, v, ts, step) for k, v in values.items() if math.isfinite(v)]
        for i in range(0, len(batch), 1000):  # MLflow caps a batch at 1000 metrics
            self.client.log_batch(self.run_id, metrics=batch[i : i + 1000])
        self._alerts.extend(_alert(a).to_dict() for a in alerts)

    def close(self) -> None:
        """Write ``alerts.jsonl`` as an artifact and mark the run finished (idempotent)."""
        if self._closed:
            return
        text = "".join(json.dumps(a) + "\n" for a in self._alerts)
        self.client.log_text(self.run_id, text, "alerts.jsonl")
        self.client.set_terminated(self.run_id)
        self._closed = True


class WandbSink:
    """Logs metrics to Weights & Biases, offline by default (``mode="offline"``: no network).

    Extra keyword arguments go to ``wandb.init``. Alert texts stay in the JSONL log; W&B gets
    the per-step count ``alerts/count``.
    """

    def __init__(self, project: str = "zpd", dir: str | os.PathLike[str] | None = None,
                 mode: str = "offline", **init_kwargs: Any) -> None:
        wandb = _import_module("wandb", "wandb")
        if dir is not None:
            Path(dir).mkdir(parents=True, exist_ok=True)
        self._run: Any = wandb.init(project=project, dir=None if dir is None else str(dir),
                                    mode=mode, **init_kwargs)

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Alert] = ()) -> None:
        """Log finite metrics and the alert count at ``step``."""
        if self._run is None:
            raise MonitorInputError("WandbSink is closed")
        values = {k: v for k, v in check_record(step, metrics).items() if math.isfinite(v)}
        values["alerts/count"] = float(len(alerts))
        self._run.log(values, step=step)

    def close(self) -> None:
        """Finish the run (idempotent)."""
        if self._run is not None:
            self._run.finish()
            self._run = None


class MultiSink:
    """Sends every step to several sinks; ``close`` closes all even if one fails."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = list(sinks)

    def log(self, step: int, metrics: Mapping[str, float], alerts: Sequence[Alert] = ()) -> None:
        """Log to every sink in order."""
        check_record(step, metrics)  # fail before any sink writes
        for s in self.sinks:
            s.log(step, metrics, alerts)

    def close(self) -> None:
        """Close every sink; re-raise the first error after trying all."""
        errors = []
        for s in self.sinks:
            try:
                s.close()
            except Exception as e:  # noqa: BLE001 - close the rest, then re-raise
                errors.append(e)
        if errors:
            raise errors[0]


def available_sinks() -> list[SinkKind]:
    """Sink kinds whose client is installed (JSONL always)."""
    found = [SinkKind.JSONL]
    if (_has("torch") and _has("tensorboard")) or _has("tensorboardX"):
        found.append(SinkKind.TENSORBOARD)
    if _has("mlflow"):
        found.append(SinkKind.MLFLOW)
    if _has("wandb"):
        found.append(SinkKind.WANDB)
    return found


def open_sinks(run_dir: str | os.PathLike[str],
               kinds: Sequence[SinkKind | str] | str = ("jsonl",)) -> MultiSink:
    """Open sinks for a run directory: ``metrics.jsonl``, ``tensorboard/``, ``mlruns/``, ``wandb/``.

    ``kinds``: names or ``SinkKind`` values, or ``"auto"`` for every installed one (JSONL first).
    JSONL is always included. An explicitly named sink whose client is missing raises
    ``SinkUnavailableError``.
    """
    run = Path(run_dir)
    chosen = available_sinks() if kinds == "auto" else [_kind(k) for k in kinds]
    if SinkKind.JSONL not in chosen:
        chosen.insert(0, SinkKind.JSONL)
    sinks: list[Sink] = []
    for k in dict.fromkeys(chosen):
        if k is SinkKind.JSONL:
            sinks.append(JsonlSink(run))
        elif k is SinkKind.TENSORBOARD:
            sinks.append(TensorBoardSink(run / "tensorboard"))
        elif k is SinkKind.MLFLOW:
            sinks.append(MLflowSink(run / "mlruns", run_name=run.name))
        else:
            sinks.append(WandbSink(dir=run))
    return MultiSink(*sinks)


def _kind(value: SinkKind | str) -> SinkKind:
    try:
        return SinkKind(value)
    except ValueError:
        raise MonitorInputError(f"sink {value!r}: choose from {[k.value for k in SinkKind]} "
                                "or 'auto'") from None


def _alert(a: Any) -> Alert:
    if not isinstance(a, Alert):
        raise MonitorInputError(f"alerts must be zpd.monitors.Alert records, got {type(a).__name__}")
    return a


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _import_module(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise SinkUnavailableError(
            f"this sink needs {package!r}: `pip install {package}` (or `pip install zpd[sinks]`)"
        ) from e


def _import(module: str, name: str, package: str) -> Any:
    return getattr(_import_module(module, package), name)


def _summary_writer_class() -> Any:
    for module in ("torch.utils.tensorboard", "tensorboardX"):
        if _has(module.split(".")[0]):
            try:
                return importlib.import_module(module).SummaryWriter
            except ImportError:
                continue
    raise SinkUnavailableError("TensorBoardSink needs torch+tensorboard or tensorboardX: "
                               "`pip install tensorboard` (or `pip install zpd[sinks]`)")
