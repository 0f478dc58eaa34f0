"""Run the same scoring over Ray Data, for many GPUs or nodes (``--ray``).

What it is: an executor for :func:`zpd.data.pipeline.run_file`. The driver still reads, validates
and numbers the rows (so error messages, skipping and resume behave exactly as without Ray) and
still appends results to the one result log; Ray Data spreads the model work over an actor pool
(``map_batches`` with a callable class, one model copy per actor, ``num_gpus`` per actor) and
returns results in input order (``preserve_order``). Rows travel to Ray in blocks of
``block_rows`` (the driver's memory bound); the actors are rebuilt per block, so make blocks large.
Ray is imported only when a Ray run starts. What it is not: a Ray cluster launcher — connect to
one with ``address`` (``"auto"`` for a running cluster) or let it start a local one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from zpd.data.errors import DataError
from zpd.data.io import Item


@dataclass(frozen=True)
class RayConfig:
    """Settings of a Ray run."""

    num_workers: int = 1
    """Scoring actors (one model copy each)."""
    num_gpus: float = 0.0
    """GPUs per actor (e.g. 1.0 on a GPU cluster; fractions share a GPU)."""
    num_cpus: float = 1.0
    """CPUs per actor."""
    block_rows: int = 8192
    """Items handed to Ray Data at a time; bounds the driver's memory; actors rebuild per block."""
    address: str | None = None
    """Ray address (``"auto"``: a running cluster); ``None``: connect or start a local Ray."""
    local_cpus: int | None = None
    """CPUs a locally started Ray may use (``None``: all)."""

    def __post_init__(self) -> None:
        if self.num_workers < 1:
            raise DataError(f"num_workers must be >= 1; got {self.num_workers}")
        if self.num_gpus < 0 or self.num_cpus <= 0:
            raise DataError(f"num_gpus must be >= 0 and num_cpus > 0; got {self.num_gpus}, "
                            f"{self.num_cpus}")
        if self.block_rows < 1:
            raise DataError(f"block_rows must be >= 1; got {self.block_rows}")


def _encode(item: Item) -> str:
    return json.dumps({"row": item.row, "id": item.id, "category": item.category,
                       "text": dict(item.text), "raw": dict(item.raw)}, default=str)


def _decode(text: str) -> Item:
    d = json.loads(text)
    return Item(row=d["row"], id=d["id"], category=d["category"], text=d["text"], raw=d["raw"])


class _RayScorer:
    """Ray Data callable class: builds the task's scorer once per actor."""

    def __init__(self, task: Any):
        self.scorer = task()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        items = [_decode(str(s)) for s in batch["item"]]
        records = self.scorer(items)
        return {"record": np.array([json.dumps(r) for r in records], dtype=object)}


def _init_ray(config: RayConfig) -> Any:
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "ignore_reinit_error": True,
                                  "log_to_driver": False}
        if config.address is not None:
            kwargs["address"] = config.address
        elif config.local_cpus is not None:
            kwargs["num_cpus"] = config.local_cpus
        ray.init(**kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    return ray


def _run_block(ray: Any, block: list[list[Item]], task: Any, config: RayConfig
               ) -> list[list[dict[str, Any]]]:
    rows = [{"item": _encode(it)} for b in block for it in b]
    if not rows:
        return [[] for _ in block]
    ds = ray.data.from_items(rows).map_batches(
        _RayScorer, fn_constructor_args=(task,), batch_size=max(len(b) for b in block),
        concurrency=config.num_workers, num_gpus=config.num_gpus, num_cpus=config.num_cpus,
        batch_format="numpy")
    flat = [json.loads(str(s)) for out in ds.iter_batches(batch_size=None, batch_format="numpy")
            for s in out["record"]]
    if len(flat) != len(rows):
        raise DataError(f"Ray returned {len(flat)} results for {len(rows)} items")
    out, start = [], 0
    for b in block:
        out.append(flat[start : start + len(b)])
        start += len(b)
    return out


def ray_executor(batches: Iterator[list[Item]], task: Any, *, config: RayConfig
                 ) -> Iterator[list[dict[str, Any]]]:
    """Executor for ``run_file``: scores blocks of batches on a Ray Data actor pool, in order."""
    ray = _init_ray(config)
    block: list[list[Item]] = []
    for batch in batches:
        block.append(batch)
        if sum(len(b) for b in block) >= config.block_rows:
            yield from _run_block(ray, block, task, config)
            block = []
    if block:
        yield from _run_block(ray, block, task, config)


def executor_for(config: RayConfig | None) -> Any:
    """The local executor, or a Ray executor when ``config`` is given."""
    from zpd.data.pipeline import local_executor

    if config is None:
        return local_executor
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # before any output is created
        raise DataError("--ray needs Ray, which is not installed: pip install 'zpd[ray]'")
    return partial(ray_executor, config=config)
