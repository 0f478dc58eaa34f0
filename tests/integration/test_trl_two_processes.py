"""ZPDGRPOTrainer across two processes (``accelerate launch --num_processes 2 --cpu``, gloo):
every rank draws the same prompts, the rewards of all ranks reach the curriculum exactly once,
and a checkpoint restores the same curriculum on both ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).with_name("trl_two_ranks.py")
G = 4


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(model: Path, out: Path, phase: str) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "ACCELERATE_USE_CPU": "true"}
    # `--cpu` alone starts one process (accelerate's simple launcher); `--multi_gpu` starts
    # torchrun's two, and with no GPU (use_cpu in the trainer's args) they meet over gloo
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           str(SCRIPT), str(model), str(out), phase]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    return [json.loads((out / f"{phase}-rank{k}.json").read_text()) for k in range(2)]


def test_two_ranks_draw_alike_feed_once_and_restore_alike(tiny_model, tmp_path) -> None:
    a = _launch(tiny_model, tmp_path, "train")
    assert [r["world"] for r in a] == [2, 2]
    # every rank drew the same prompts, in the same order
    assert a[0]["draws"] == a[1]["draws"] and len(a[0]["draws"]) >= 4
    # each rank scored its own half of every generation batch; together they cover the draw,
    # each pick G times, and the curriculum received each batch exactly once
    for k, (c0, c1) in enumerate(zip(a[0]["calls"], a[1]["calls"])):
        scored = sorted(c0[0] + c1[0])
        assert scored == sorted(np.repeat(a[0]["draws"][k], G).tolist())
    assert a[0]["updates"] == a[1]["updates"] == len(a[0]["calls"]) == 4
    assert np.allclose(a[0]["mean"], a[1]["mean"])  # the same gathered updates on both ranks
    # the checkpoint restores the same curriculum on both ranks
    b = _launch(tiny_model, tmp_path, "resume")
    assert b[0]["restored"] is not None and b[0]["restored"] == b[1]["restored"]
    assert b[0]["restored"]["updates"] == 2
    assert b[0]["draws"] == b[1]["draws"] and np.allclose(b[0]["mean"], b[1]["mean"])
    assert b[0]["updates"] == b[1]["updates"] == 4
