"""LESS speed: the sparse projection against the dense Rademacher one, same --proj-dim, same run.

On the lab's shipped base (0.6M parameters; at --proj-dim 2048 the dense matrix is 4.9 GB, over
any cache, so it is regenerated for every group of rows), scores a pool of reversals against a
few target examples with both projections and prints seconds per row, their ratio (floor: the
sparse one >= 5x faster) and how much of the selected top 25 % the two share (the projection
changed, so the selection may too: reported, not assumed).

    python benchmarks/less_speed.py              # 48 rows
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from zpd.data.less import LessCheckpoint, LessConfig, LessSelector
from zpd.lab import tasks
from zpd.lab.experiments import demo_config
from zpd.lab.pretrain import SHIPPED


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--proj-dim", type=int, default=2048)
    args = ap.parse_args()
    base = SHIPPED / demo_config().pretrain.fingerprint() / "final"
    rng = np.random.default_rng(0)
    items = tasks.make_items(tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(2, 8),
                                              n_items=args.rows + 4), rng, unique=True)
    prompts = [it.prompt for it in items]
    answers = [tasks.render_completion(it) for it in items]
    targets = (prompts[:4], answers[:4])
    pool = (prompts[4:], answers[4:])
    scores, secs = {}, {}
    for proj in ("rademacher", "sparse"):
        cfg = LessConfig(proj_dim=args.proj_dim, projection=proj)
        sel = LessSelector([LessCheckpoint(str(base))], cfg, device="cpu").fit(*targets)
        t0 = time.perf_counter()
        scores[proj] = sel.score(*pool)
        secs[proj] = (time.perf_counter() - t0) / args.rows
        print(f"{proj:<11} {secs[proj]:.4f} s/row")
    k = max(1, args.rows // 4)
    top = {p: set(np.argsort(-s)[:k].tolist()) for p, s in scores.items()}
    overlap = len(top["rademacher"] & top["sparse"]) / k
    rho = float(np.corrcoef(np.argsort(np.argsort(scores["rademacher"])),
                            np.argsort(np.argsort(scores["sparse"])))[0, 1])
    ratio = secs["rademacher"] / secs["sparse"]
    print(f"top {k} of {args.rows} shared: {overlap:.0%}; rank correlation {rho:.3f}")
    ok = ratio >= 5.0
    print(f"{'PASS' if ok else 'FAIL'}  sparse projection {ratio:.1f}x faster per row than the "
          "dense one (floor >= 5x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
