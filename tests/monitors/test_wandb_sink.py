"""WandbSink against the real ``wandb`` client in offline mode (no network).

The offline run file (``run-*.wandb``) is read back with a small reader of its documented
framing (LevelDB log blocks after a 7-byte ``:W&B`` header, records are ``wandb_internal``
protobufs), so the test checks what W&B would sync, not what our sink believes it sent.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from wandb.proto import wandb_internal_pb2 as pb

from zpd.monitors.sinks import WandbSink

_BLOCK = 32768
_HEADER = 7


def _read_records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    out: list[bytes] = []
    pending = b""
    pos = _HEADER
    while pos + 7 <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < 7:
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        if kind == 1:  # FULL
            out.append(chunk)
        elif kind == 2:  # FIRST
            pending = chunk
        elif kind == 3:  # MIDDLE
            pending += chunk
        elif kind == 4:  # LAST
            out.append(pending + chunk)
            pending = b""
    return out


def _records(run_dir: Path, timeout_s: float = 60.0) -> list[pb.Record]:
    """The run file's records once W&B has written its ``exit`` record.

    ``run.finish()`` returns when the wandb service has the run's records, not when its writer
    has put them on disk; on a loaded machine the file can lag for a moment (seen in CI:
    a run file with no history yet). W&B syncs the file only after ``exit``, so wait for it.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
        records = []
        for raw in _read_records(run_file):
            rec = pb.Record()
            rec.ParseFromString(raw)
            records.append(rec)
        kinds = [r.WhichOneof("record_type") for r in records]
        if "exit" in kinds:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"no exit record after {timeout_s:.0f} s; records: {kinds}")
        time.sleep(0.1)


def _history(run_dir: Path) -> list[dict[str, float]]:
    rows = []
    for rec in _records(run_dir):
        if rec.WhichOneof("record_type") == "history":
            items = {"/".join(i.nested_key) or i.key: json.loads(i.value_json)
                     for i in rec.history.item}
            rows.append(items)
    return rows


def test_wandb_offline_run_holds_every_logged_step(tmp_path: Path) -> None:
    sink = WandbSink(project="zpd-test", dir=tmp_path)
    sink.log(0, {"health/kl/k3": 0.1, "health/groups/zero_variance": 0.5})
    sink.log(1, {"health/kl/k3": 0.25, "health/groups/zero_variance": float("nan")})
    sink.close()
    sink.close()  # idempotent
    rows = _history(tmp_path)
    kinds = [r.WhichOneof("record_type") for r in _records(tmp_path)]
    assert [r["_step"] for r in rows] == [0, 1], f"run file records: {kinds}"
    assert rows[0]["health/kl/k3"] == pytest.approx(0.1)
    assert rows[1]["health/kl/k3"] == pytest.approx(0.25)
    assert rows[0]["health/groups/zero_variance"] == pytest.approx(0.5)
    assert "health/groups/zero_variance" not in rows[1], "non-finite values must not be sent"
    assert rows[1]["alerts/count"] == 0


def test_wandb_sink_refuses_to_log_after_close(tmp_path: Path) -> None:
    sink = WandbSink(project="zpd-test", dir=tmp_path)
    sink.close()
    with pytest.raises(ValueError, match="closed"):
        sink.log(0, {"health/kl/k3": 0.1})
