"""The monitors' lab proof (issue 4): plain GRPO on near-impossible items vs ``zpd``.

Runs :func:`zpd.lab.proof.run_proof` (default: arms ``grpo``, ``zpd``, ``zpd-mixed``; 3 seeds;
3,072 rollouts per run; lr 1e-4; the cached demo base, pretrained once if missing) and prints,
per arm (mean over seeds [per seed]): shortcut alerts (repetition + skipping) and the first step
one fired, accidental-success alerts, the accidental share and advantage mass, prior-skill
accuracy before/after and its drop, retention alerts, in-band and near-impossible accuracy, KL
to the base. Then ratios of each zpd arm against plain GRPO measured in the same run. Writes
``metrics.jsonl``, ``alerts.jsonl``, ``summary.json``, ``proof.html`` and ``proof_*.png`` to
``--out``. Run it niced on a shared CPU (~10 min on 2 cores):

    nice -n 10 python benchmarks/lab_proof.py --out /tmp/zpd-lab-proof
"""

from __future__ import annotations

import argparse
import math
import time

from zpd.lab.proof import ProofConfig, format_table, run_proof

RATIO_KEYS = (
    ("alerts/shortcut", "shortcut alerts"),
    ("alerts/accidental", "accidental alerts"),
    ("accidental_adv_per_step", "accidental advantage per step"),
    ("acc/all_prior/drop", "prior-skill drop"),
    ("kl_last", "final KL"),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/zpd-lab-proof", help="output folder")
    ap.add_argument("--base", default=None, help="base checkpoint folder (default: cached)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    ap.add_argument("--budget", type=int, default=3072, help="rollouts per run (default 3072)")
    ap.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    ap.add_argument("--arms", default="grpo,zpd,zpd-mixed", help="comma-separated arms")
    args = ap.parse_args()
    cfg = ProofConfig(arms=tuple(args.arms.split(",")), seeds=tuple(range(args.seeds)),
                      rollout_budget=args.budget, lr=args.lr)
    t0 = time.perf_counter()
    summary = run_proof(cfg, args.out, base_dir=args.base)
    print(format_table(summary))
    arms = summary["arms"]
    if "grpo" in arms:
        print("\nratios against plain GRPO (same run; mean over seeds):")
        for arm in (a for a in arms if a != "grpo"):
            parts = []
            for key, label in RATIO_KEYS:
                a, g = arms[arm][key]["mean"], arms["grpo"][key]["mean"]
                r = a / g if a is not None and g not in (None, 0) else math.nan
                parts.append(f"{label} {r:.2f}x")
            print(f"  {arm:<10} " + ", ".join(parts))
    print(f"\n{time.perf_counter() - t0:.0f} s; per run: {summary['seconds_per_run']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
