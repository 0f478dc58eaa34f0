"""RL throughput of the lab: rollout tokens per second (generated and trained), with baselines.

Runs GRPO steps of the default model (uniform curriculum, the demo's RL settings: 16 prompts
x 8 samples per step, the demo's pool) and reports generated tokens per second of whole RL steps (sampling with the KV cache,
scoring, base log-probs for the KL, the policy-gradient update). Baselines measured in the same
run on the same prompts and the same completion lengths:

- generation *without* a KV cache (every new token re-runs the whole prefix), and
- the KV-cache generator alone (no scoring, no training),

printed as ratios. PASS/FAIL against the floor of 4,000 rollout tokens/s.

    python benchmarks/lab_throughput.py                      # the cached default base if any
    python benchmarks/lab_throughput.py --base DIR/final --steps 20 --threads 1

The CPU is shared: run it while nothing else runs, or read the numbers as a lower bound.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

FLOOR = 4000.0


def _base_dir(arg: str | None, tmp: Path) -> tuple[Path, str]:
    from zpd.lab import model as gpt
    from zpd.lab.experiments import demo_config
    from zpd.lab.pretrain import SHIPPED, cached_base_dir, is_finished
    from zpd.lab.tokenizer import CharTokenizer

    if arg:
        return Path(arg), "given"
    pre = demo_config().pretrain
    cached = cached_base_dir(pre)
    if is_finished(cached):
        return cached / "final", "cached demo base"
    if is_finished(SHIPPED / pre.fingerprint()):
        return SHIPPED / pre.fingerprint() / "final", "the demo base shipped with the package"
    model = gpt.GPT(gpt.GPTConfig.preset("small"))
    return gpt.save_pretrained(model, CharTokenizer(), tmp / "random"), (
        "random init (no cached base: completions run to max length)"
    )


def _no_cache_generate(model, prompts, lengths, pad_id):  # type: ignore[no-untyped-def]
    """Sample as many tokens per row as the RL run did, re-running the whole prefix each token."""
    import torch

    from zpd.lab import model as gpt

    ids, am = gpt.left_pad(prompts, pad_id)  # (B, Tp)
    steps = int(lengths.max())
    with torch.no_grad():
        for _ in range(steps):
            logits, _ = model(ids, attention_mask=am)  # (B, T, V)
            nxt = torch.multinomial(torch.softmax(logits[:, -1], -1), 1)  # (B, 1)
            ids = torch.cat([ids, nxt], 1)
            am = torch.cat([am, torch.ones_like(nxt)], 1)
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=None, help="base checkpoint folder (default: cached demo base)")
    ap.add_argument("--steps", type=int, default=12, help="GRPO steps to time (default 12)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument("--prompts", type=int, default=0,
                    help="prompts per step (default: the demo's RLConfig, 16)")
    args = ap.parse_args()

    import torch

    from zpd.lab import model as gpt
    from zpd.lab import tasks
    from zpd.lab.rl import RLConfig, completion_budget, run_rl

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        base, origin = _base_dir(args.base, Path(tmp))
        pool = tasks.make_pool(seed=0)
        prompts = args.prompts or RLConfig().prompts_per_step
        per_step = prompts * RLConfig().group_size
        cfg = RLConfig(policy="uniform", prompts_per_step=prompts,
                       rollout_budget=per_step * (args.steps + 1), eval_every=10**6)
        res = run_rl(cfg, base, pool.train, Path(tmp) / "rl")
        steps = res.rows[2:]  # the first step warms up allocators and caches
        secs = sum(r["lab/step_seconds"] for r in steps)
        gen_tokens = steps[-1]["lab/tokens_generated"] - res.rows[1]["lab/tokens_generated"]
        trained = sum(r.get("lab/trained_tokens", 0.0) for r in steps)
        rl_tps = gen_tokens / secs

        model, tok = gpt.load_pretrained(base)
        model.eval()
        rng = torch.Generator().manual_seed(0)
        prompts = [tok.encode(pool.train[i].prompt) for i in range(cfg.prompts_per_step)
                   for _ in range(cfg.group_size)]
        budget = completion_budget(pool.train)
        t = time.perf_counter()
        comp, _, lengths = gpt.generate(model, prompts, budget, generator=rng)
        kv_s = time.perf_counter() - t
        kv_tokens = int(lengths.sum())
        t = time.perf_counter()
        n = _no_cache_generate(model, prompts, lengths, tok.pad_id)  # (same rows, lengths)
        nc_s = time.perf_counter() - t
        nc_tps = kv_tokens / nc_s  # same completions' worth of tokens, generated without a cache

    print(f"model: {base} ({origin}); {model.num_params():,} params; "
          f"torch threads {torch.get_num_threads()}")
    print(f"RL steps timed: {len(steps)} x {cfg.prompts_per_step} prompts x {cfg.group_size} "
          f"samples; mean completion {gen_tokens / (len(steps) * per_step):.1f} tokens; "
          f"trained tokens {trained:,.0f}")
    print(f"RL rollout throughput (generated+trained, whole step): {rl_tps:,.0f} tok/s "
          f"({secs / len(steps):.2f} s/step)")
    print(f"baseline, KV-cache generation alone:   {kv_tokens / kv_s:,.0f} tok/s")
    print(f"baseline, generation without KV cache: {nc_tps:,.0f} tok/s ({n} decode steps)")
    print(f"ratio RL step / no-cache generation: {rl_tps / nc_tps:.2f}x; "
          f"KV-cache / no-cache generation: {(kv_tokens / kv_s) / nc_tps:.2f}x")
    verdict = "PASS" if rl_tps >= FLOOR else "FAIL"
    print(f"{verdict}: {rl_tps:,.0f} rollout tok/s vs floor {FLOOR:,.0f}")


if __name__ == "__main__":
    main()
