"""The shortcut lab (issue 11): a shortcut that near-impossible items reward, and zpd's defence.

Runs :func:`zpd.lab.proof.run_proof` (default: design 2, ``--design steep``, with its shipped
base ``STEEP_BASE``; the seven arms of ``DEFAULT_ARMS``; 3 seeds; 3,072 rollouts per run;
lr 1e-4; ``--design ladder`` is design 1 on ``SHORTCUT_BASE``) and prints the
base's pass rates and echo rate per tier, then per arm (mean over seeds [per seed]) the shortcut
(echo) rate on held-out non-palindromes, the prior-skill drop, in-band accuracy, every monitor's
alerts, and the share of positive advantage that lands on echoes. Then the pre-registered floors
(docs/lab-proof.md), each measured against the band-only and base numbers of the same run, and
every monitor family's alert count over all arms (false alarms). Writes ``metrics.jsonl``,
``alerts.jsonl``, ``summary.json``, ``proof.html`` and ``proof_*.png`` to ``--out``. ~20 min on a
2-core CPU:

    nice -n 10 python benchmarks/lab_proof.py --out /tmp/zpd-lab-proof

Exit status 1 when a floor fails (the numbers are printed either way).
"""

from __future__ import annotations

import argparse
import time

from zpd.lab.proof import (
    ALERT_FAMILIES,
    DEFAULT_ARMS,
    ProofConfig,
    check_floors,
    format_table,
    run_proof,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/zpd-lab-proof", help="output folder")
    ap.add_argument("--base", default=None, help="base checkpoint folder (default: shipped)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    ap.add_argument("--budget", type=int, default=3072, help="rollouts per run (default 3072)")
    ap.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    ap.add_argument("--arms", default=",".join(a.value for a in DEFAULT_ARMS),
                    help="comma-separated arms")
    ap.add_argument("--design", default="steep", choices=("steep", "ladder"),
                    help="steep: design 2 (default); ladder: design 1 (docs/lab-proof.md)")
    args = ap.parse_args()
    cfg = ProofConfig.design(args.design, arms=tuple(args.arms.split(",")),
                             seeds=tuple(range(args.seeds)), rollout_budget=args.budget,
                             lr=args.lr)
    t0 = time.perf_counter()
    summary = run_proof(cfg, args.out, base_dir=args.base)
    print(format_table(summary))
    print("\nalerts per family, summed over seeds (seeds alerting):")
    for arm, entry in summary["arms"].items():
        counts = [f"{f} {entry['metrics'][f'alerts/{f}']['mean'] * len(entry['seeds']):.0f}"
                  f" ({entry['alerts'][f]})" for f in ALERT_FAMILIES]
        print(f"  {arm:<16} " + ", ".join(counts))
    print("\nfloors (pre-registered in docs/lab-proof.md):")
    failed = 0
    for name, ok, detail in check_floors(summary):
        verdict = "n/a " if ok is None else "PASS" if ok else "FAIL"
        failed += ok is False
        print(f"  {verdict}  {name}: {detail}")
    print(f"\n{time.perf_counter() - t0:.0f} s; per run: {summary['seconds_per_run']}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
