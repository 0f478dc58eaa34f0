"""NLL scoring speed and memory of ``zpd score distance`` with the lab's default model.

Throughput: :class:`zpd.data.distance.DistanceScorer` (length-sorted, token-budgeted batches) vs
the same scorer forced to one item per forward pass (the unbatched baseline), on lab prompts and
answers, in the same run: the median of 5 interleaved rounds (one pass of each per round), with
the range, since one pass on a shared machine swings by +-20 %. Tokens/s counts the non-pad tokens fed to the model (two forward passes
per item: prompt+answer and answer+prompt, for IFD and reversed IFD).
Memory: the whole file pipeline (``score_distance``: validate, stream, score, append) on N1 and
N2 items, each in a fresh subprocess; peak RSS must not grow with the dataset.

The model is the lab's ``small`` preset (~0.6M parameters, d=128, 3 layers, GPT-2 layout), saved
as a Hugging Face checkpoint with the lab's char tokenizer and loaded through transformers.

    python benchmarks/data_nll.py                 # 5,000 items; memory on 10k vs 100k items
    python benchmarks/data_nll.py --quick         # 2,000 items; memory on 2k vs 20k items
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR_TOKENS_PER_S = 50_000  # issue 13's floor on the lab's default model
ROUNDS = 5  # throughput is the median of this many interleaved rounds (min and max printed)
RSS_SLACK = 1.10  # flat = the larger run's peak RSS within 10% (+ 32 MiB) of the smaller's


def lab_model(directory: Path) -> Path:
    import torch

    from zpd.lab.model import GPT, GPTConfig, save_pretrained
    from zpd.lab.tokenizer import CharTokenizer

    torch.manual_seed(0)
    return save_pretrained(GPT(GPTConfig.preset("small")), CharTokenizer(), directory)


def lab_pairs(n: int) -> tuple[list[str], list[str]]:
    from zpd.lab.tasks import make_pool, render_completion

    items = make_pool().train
    prompts = [items[i % len(items)].prompt for i in range(n)]
    answers = [render_completion(items[i % len(items)]) for i in range(n)]
    return prompts, answers


def throughput(model: Path, n: int, n_base: int, rounds: int = ROUNDS
               ) -> tuple[list[float], list[float]]:
    """tokens/s of the batched scorer and of the unbatched baseline, ``rounds`` interleaved
    rounds each (one round = one pass of each, back to back), so both see the same machine."""
    from zpd.data.distance import DistanceConfig, DistanceScorer
    from zpd.data.model_io import load_model

    lm = load_model(model, device="cpu")
    prompts, answers = lab_pairs(n)
    scorers = [(DistanceScorer(lm, DistanceConfig()), n),
               (DistanceScorer(lm, DistanceConfig(batch_tokens=1)), n_base)]
    for scorer, _ in scorers:
        scorer.score(prompts[:64], answers[:64])  # warm-up
    rates: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for (scorer, k), out in zip(scorers, rates):
            scorer.tokens_fed_ = 0
            t0 = time.perf_counter()
            scorer.score(prompts[:k], answers[:k])
            out.append(scorer.tokens_fed_ / (time.perf_counter() - t0))
    return rates


def bf16_info(model: Path, n: int) -> tuple[float, float]:
    """tokens/s with bfloat16 weights (``--dtype bfloat16``) and the NLL error it costs."""
    import numpy as np

    from zpd.data.distance import DistanceScorer
    from zpd.data.model_io import load_model

    prompts, answers = lab_pairs(n)
    ref = DistanceScorer(load_model(model, device="cpu")).score(prompts, answers)
    scorer = DistanceScorer(load_model(model, device="cpu", dtype="bfloat16"))
    scorer.score(prompts[:64], answers[:64])
    scorer.tokens_fed_ = 0
    t0 = time.perf_counter()
    out = scorer.score(prompts, answers)
    rate = scorer.tokens_fed_ / (time.perf_counter() - t0)
    return rate, float(np.nanmax(np.abs(out["nll_answer"] - ref["nll_answer"])))


def child(data: str, model: str, out: str) -> None:
    """Score a file end to end; print peak RSS (MiB) and tokens/s as JSON."""
    from zpd.data.distance import score_distance
    from zpd.data.pipeline import RunConfig

    t0 = time.perf_counter()
    summary = score_distance(data, model, out, device="cpu",
                             run=RunConfig(progress=False, overwrite=True, batch_rows=1024))
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_mib": rss_mib, "seconds": time.perf_counter() - t0,
                      "scored": summary.scored}))


def file_run(tmp: Path, model: Path, n: int) -> dict[str, float]:
    prompts, answers = lab_pairs(n)
    data = tmp / f"items_{n}.jsonl"
    with open(data, "w", encoding="utf-8") as fh:
        for p, a in zip(prompts, answers):
            fh.write(json.dumps({"prompt": p, "answer": a}) + "\n")
    cmd = [sys.executable, __file__, "--child", str(data), str(model), str(tmp / f"out_{n}.jsonl")]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--child", nargs=3, metavar=("DATA", "MODEL", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    n, n_base = (2000, 200) if args.quick else (5000, 400)
    sizes = (2_000, 20_000) if args.quick else (10_000, 100_000)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(other processes slow every number below)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = lab_model(tmp / "small")
        fast_all, base_all = throughput(model, n, n_base)
        fast, base = statistics.median(fast_all), statistics.median(base_all)
        print(f"tokens/s batched {fast:,.0f} (median of {ROUNDS} rounds, {min(fast_all):,.0f}-"
              f"{max(fast_all):,.0f}) | unbatched baseline {base:,.0f} ({min(base_all):,.0f}-"
              f"{max(base_all):,.0f}) | ratio {fast / base:.1f}x  ({n} / {n_base} lab items, "
              "small preset, CPU)")
        bf16_rate, bf16_err = bf16_info(model, n // 2)
        print(f"info: bfloat16 weights {bf16_rate:,.0f} tokens/s, max |NLL error| "
              f"{bf16_err:.3f} nats/token (float32 is the default)")
        ok_speed = fast >= FLOOR_TOKENS_PER_S
        print(f"{'PASS' if ok_speed else 'FAIL'} throughput >= {FLOOR_TOKENS_PER_S:,} tokens/s")
        small, large = (file_run(tmp, model, k) for k in sizes)
        for k, r in zip(sizes, (small, large)):
            print(f"file pipeline {k:>7,} items: peak RSS {r['rss_mib']:.0f} MiB, "
                  f"{r['seconds']:.1f} s")
        ok_mem = large["rss_mib"] <= small["rss_mib"] * RSS_SLACK + 32
        print(f"{'PASS' if ok_mem else 'FAIL'} memory flat: {sizes[1]:,} items use "
              f"{large['rss_mib'] / small['rss_mib']:.2f}x the peak RSS of {sizes[0]:,}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0 if ok_speed and ok_mem else 1


if __name__ == "__main__":
    sys.exit(main())
