"""Shared fixtures of the lab tests: one torch thread, and one tiny pretrained base per session.

The tiny base reverses 1-3-digit strings (sampled accuracy ~0.5 at 3 digits after 300 tiny
steps) and has seen some 1-digit additions (the prior skill RL does not train). RL and proof
tests share it, so it is pretrained once per test session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from zpd.lab import tasks
from zpd.lab.pretrain import PretrainConfig, pretrain

TINY_MIX = (
    tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(1, 3)),
    tasks.TaskConfig(ops=("add",), formats=("direct",), digits=(1, 1), weight=0.3),
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: on a shared 2-core CPU, two spinning threads are several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    cfg = PretrainConfig(mix=TINY_MIX, preset="tiny", steps=300, batch_size=32, lr=3e-3,
                         eval_items=2, eval_extra_digits=0, warmup_steps=10)
    return pretrain(cfg, tmp_path_factory.mktemp("base"), progress=False)
