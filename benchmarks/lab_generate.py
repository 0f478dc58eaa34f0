"""Speed of the lab GPT's sampling and scoring on this CPU, against baselines in the same run.

Generation: ``zpd.lab.model.generate`` (batched, left-padded ragged prompts, KV cache, SDPA) vs
the same sampling loop without a cache (a full forward pass over the growing sequence per token).
Scoring: ``sequence_logprobs`` forward + backward (the GRPO update's cost) in tokens per second.
Prompts come from the demo pool (ragged lengths); eos is disabled so every row generates
exactly ``--new`` tokens, i.e. tokens/s are not flattered by early stops.

    python benchmarks/lab_generate.py                        # small preset, 256 x 12
    python benchmarks/lab_generate.py --preset base --batch 512 --new 24
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from zpd.lab.model import GPT, GPTConfig, generate, left_pad, sequence_logprobs
from zpd.lab.tasks import make_pool
from zpd.lab.tokenizer import CharTokenizer


def best_seconds(fn: Callable[[], object], reps: int) -> float:
    """Best of ``reps`` timings after one warm-up call (least disturbed by other processes)."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


@torch.no_grad()
def generate_no_cache(model: GPT, prompts: list[list[int]], new: int, g: torch.Generator) -> None:
    """Baseline: the same sampling with a full forward pass per generated token."""
    x, am = left_pad(prompts, CharTokenizer.pad_id)
    for _ in range(new):
        logits, _ = model(x, attention_mask=am)
        nxt = torch.multinomial(torch.softmax(logits[:, -1], -1), 1, generator=g)  # (B, 1)
        x, am = torch.cat([x, nxt], 1), torch.cat([am, torch.ones_like(nxt)], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=256, help="rows (e.g. 32 prompts x G=8)")
    ap.add_argument("--new", type=int, default=12, help="tokens generated per row")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave as is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = GPT(GPTConfig.preset(args.preset)).eval()
    pool = make_pool(seed=0).train
    prompts = [tok.encode(pool[i % len(pool)].prompt) for i in range(args.batch)]
    g = torch.Generator().manual_seed(0)
    n_tok = args.batch * args.new

    t_kv = best_seconds(lambda: generate(model, prompts, args.new, generator=g, eos_id=-1),
                        args.reps)
    t_nc = best_seconds(lambda: generate_no_cache(model, prompts, args.new, g), max(1, args.reps // 2))
    comp, _, lengths = generate(model, prompts, args.new, generator=g, eos_id=-1)
    mask = torch.ones_like(comp, dtype=torch.bool)
    p_ids, _ = left_pad(prompts, tok.pad_id)
    model.train()

    def score() -> None:
        model.zero_grad(set_to_none=True)
        sequence_logprobs(model, p_ids, comp, mask).sum().backward()

    t_sc = best_seconds(score, args.reps)
    print(f"preset={args.preset} params={model.num_params():,} rows={args.batch} "
          f"new={args.new} prompt_len={p_ids.shape[1]} threads={torch.get_num_threads()}")
    print(f"generate (KV cache):     {t_kv:7.3f} s  {n_tok / t_kv:9,.0f} tok/s")
    print(f"generate (no cache):     {t_nc:7.3f} s  {n_tok / t_nc:9,.0f} tok/s  "
          f"(cache speed-up {t_nc / t_kv:.1f}x)")
    print(f"logprobs fwd+bwd:        {t_sc:7.3f} s  {n_tok / t_sc:9,.0f} completion tok/s")
    both = n_tok / (t_kv + t_sc)
    print(f"generate + train:        {t_kv + t_sc:7.3f} s  {both:9,.0f} tok/s "
          "(no base-KL pass, no verifier; the RL floor is 4,000)")


if __name__ == "__main__":
    main()
