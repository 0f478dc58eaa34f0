"""Overhead of the curriculum at scale: sample(1024) + update(1024 x 8) on 10M items.

Prints the median time of one sample+update round against a numpy ``argpartition`` over 10M
float32 scores measured in the same run (the cost of merely ranking the pool once), and the
curriculum's state size per item. Floors: median <= 10 ms, <= 0.25 x argpartition,
state <= 48 bytes/item.

    python benchmarks/core_overhead.py                  # 10M items, policy zpd, 50 reps
    python benchmarks/core_overhead.py --items 1000000 --policy mopps
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import zpd

MAX_MEDIAN_S = 0.010
MAX_RATIO = 0.25
MAX_BYTES_PER_ITEM = 48.0


def median_seconds(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def state_bytes(obj: Any) -> int:
    """Bytes of every numpy array inside a (nested) state dict."""
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, dict):
        return sum(state_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_bytes(v) for v in obj)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--policy", default="zpd")
    args = parser.parse_args()
    n, b, g = args.items, args.batch, args.group_size
    rng = np.random.default_rng(0)

    rewards = (rng.random((b, g)) < 0.4).astype(np.float64)  # (B, G)
    tracemalloc.start()  # numpy reports its allocations to tracemalloc
    t0 = time.perf_counter()
    cur = zpd.Curriculum(n, policy=args.policy, group_size=g, seed=0)
    build_s = time.perf_counter() - t0

    def round_trip() -> None:
        ids = cur.sample(b)
        cur.update(ids, rewards)

    for _ in range(5):  # warm-up: first-touch of arrays, lazy state
        round_trip()
    live_bytes, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cur_s = median_seconds(round_trip, args.reps)

    scores = rng.random(n, dtype=np.float32)  # (N,)
    base_s = median_seconds(lambda: np.argpartition(scores, n - b)[n - b:], max(5, args.reps // 5))

    sd_bytes = state_bytes(cur.state_dict())
    own = getattr(cur, "nbytes", None)
    per_item = (own if isinstance(own, int) else sd_bytes) / n
    ratio = cur_s / base_s
    checks = [
        ("median sample+update", cur_s * 1e3, MAX_MEDIAN_S * 1e3, "ms"),
        ("ratio to argpartition", ratio, MAX_RATIO, "x"),
        ("state per item", per_item, MAX_BYTES_PER_ITEM, "bytes"),
    ]
    print(f"policy {args.policy}, {n:,} items, sample({b}) + update({b}x{g}), "
          f"median of {args.reps}; construction {build_s:.2f} s")
    print(f"argpartition over {n:,} float32: {base_s * 1e3:.1f} ms (baseline, same run)")
    print(f"state_dict arrays: {sd_bytes / n:.1f} bytes/item"
          + (f"; curriculum nbytes: {own / n:.1f} bytes/item" if isinstance(own, int) else ""))
    print(f"memory held after warm-up: {live_bytes / n:.1f} bytes/item "
          f"(peak {peak_bytes / n:.1f}), traced allocations, for information")
    failed = 0
    for name, value, limit, unit in checks:
        ok = value <= limit
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name:<24}{value:10.3f} {unit:<6}(floor <= {limit})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
