"""Sinks write real files: JSONL lines, TensorBoard event files, an MLflow file store."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from zpd.monitors import (
    Alert,
    JsonlSink,
    MLflowSink,
    MonitorInputError,
    MultiSink,
    SinkKind,
    SinkUnavailableError,
    TensorBoardSink,
    WandbSink,
    available_sinks,
    open_sinks,
)

ALERT = Alert("formats", "warning", "format 'direct' takes 95% of rollouts", 2, 0.95, 0.9,
              "top_share")
STEPS = [(0, {"health/kl/k3": 0.01, "health/groups/zero_variance_share": 0.5}, []),
         (1, {"health/kl/k3": 0.02, "health/groups/zero_variance_share": math.nan}, []),
         (2, {"health/kl/k3": 0.04, "health/groups/zero_variance_share": 0.25}, [ALERT])]


def _log_all(sink) -> None:
    for step, metrics, alerts in STEPS:
        sink.log(step, metrics, alerts)
    sink.close()


def test_jsonl_sink_writes_one_object_per_step(tmp_path) -> None:
    _log_all(JsonlSink(tmp_path / "run"))
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert [r["step"] for r in records] == [0, 1, 2]
    assert records[1]["metrics"]["health/groups/zero_variance_share"] is None  # NaN -> null
    assert records[2]["alerts"] == [ALERT.to_dict()]
    assert Alert.from_dict(records[2]["alerts"][0]) == ALERT
    assert all(isinstance(r["time"], float) for r in records)


def test_jsonl_sink_appends_and_rejects_bad_input_without_writing(tmp_path) -> None:
    path = tmp_path / "custom.jsonl"
    sink = JsonlSink(path)
    sink.log(0, {"a/b": 1.0})
    for step, metrics, alerts in [(-1, {"a": 1.0}, []), (1, {"a": "x"}, []), (1, {"a": True}, []),
                                  (1, {"": 1.0}, []), (1, {"a": 1.0}, ["not an alert"])]:
        with pytest.raises(MonitorInputError):
            sink.log(step, metrics, alerts)
    sink.close()
    sink.close()  # idempotent
    with pytest.raises(MonitorInputError, match="closed"):
        sink.log(1, {"a": 1.0})
    JsonlSink(path).log(1, {"a/b": 2.0})  # reopening appends
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [0, 1]


def test_tensorboard_sink_writes_readable_event_files(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _log_all(TensorBoardSink(tmp_path / "tb"))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    k3 = acc.Scalars("health/kl/k3")
    assert [e.step for e in k3] == [0, 1, 2]
    assert [e.value for e in k3] == pytest.approx([0.01, 0.02, 0.04])
    zv = acc.Scalars("health/groups/zero_variance_share")
    assert [e.step for e in zv] == [0, 2]  # NaN is not written
    assert [e.value for e in acc.Scalars("alerts/count")] == [0.0, 0.0, 1.0]
    text_tags = [t for t in acc.Tags()["tensors"] if t.startswith("alerts/formats")]
    assert text_tags
    (event,) = acc.Tensors(text_tags[0])
    assert event.step == 2 and b"95%" in event.tensor_proto.string_val[0]


def test_mlflow_sink_writes_a_file_store_readable_by_mlflow_client(tmp_path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    sink = MLflowSink(tmp_path / "mlruns", experiment="exp", run_name="r1")
    _log_all(sink)
    client = MlflowClient(tracking_uri=sink.tracking_uri)
    assert sink.tracking_uri.startswith("file:")
    run = client.get_run(sink.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "r1"
    hist = client.get_metric_history(sink.run_id, "health/kl/k3")
    assert sorted((m.step, m.value) for m in hist) == [(0, 0.01), (1, 0.02), (2, 0.04)]
    zv = client.get_metric_history(sink.run_id, "health/groups/zero_variance_share")
    assert sorted(m.step for m in zv) == [0, 2]
    local = client.download_artifacts(sink.run_id, "alerts.jsonl", str(tmp_path / "dl"))
    (line,) = open(local).read().splitlines()
    assert json.loads(line) == ALERT.to_dict()
    # a second sink on the same store reuses the experiment
    again = MLflowSink(tmp_path / "mlruns", experiment="exp")
    assert client.get_run(again.run_id).info.experiment_id == run.info.experiment_id
    again.close()


def test_wandb_sink_needs_wandb_installed(tmp_path) -> None:
    if importlib.util.find_spec("wandb") is None:
        with pytest.raises(SinkUnavailableError, match="pip install wandb"):
            WandbSink(dir=tmp_path)
        assert SinkKind.WANDB not in available_sinks()
    else:  # offline mode writes a local run directory and needs no network
        sink = WandbSink(dir=tmp_path, mode="offline")
        _log_all(sink)
        assert list((tmp_path / "wandb").glob("offline-run-*"))


def test_open_sinks_auto_and_multisink(tmp_path) -> None:
    kinds = available_sinks()
    assert kinds[0] is SinkKind.JSONL and SinkKind.TENSORBOARD in kinds and SinkKind.MLFLOW in kinds
    sink = open_sinks(tmp_path / "run", ["tensorboard"])  # JSONL is always added
    assert [type(s).__name__ for s in sink.sinks] == ["JsonlSink", "TensorBoardSink"]
    _log_all(sink)
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    with pytest.raises(MonitorInputError, match="choose from"):
        open_sinks(tmp_path / "x", ["csv"])
    with pytest.raises(MonitorInputError):
        MultiSink(JsonlSink(tmp_path / "m")).log(0, {"a": "bad"})
    assert not (tmp_path / "m" / "metrics.jsonl").read_text()
