"""One zpd curriculum shared by several Ray rollout workers, surviving an actor restart (CPU).

    python examples/ray_curriculum.py [--workers 2] [--rounds 6] [--out DIR]

Starts the curriculum as a named Ray actor with a checkpoint folder, then rollout workers (Ray
actors) that each load a tiny local model (built from a config), ask the curriculum for prompts
of the toy task, sample a group of completions per prompt, score them and report the rewards,
all concurrently. Halfway through, the curriculum actor's process is killed: Ray restarts it,
it restores its state from the checkpoint, and the workers' calls in flight are retried and
applied exactly once. Prints what each worker was given, the actor's counters and what the
curriculum learned.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import ray

from zpd.integrations.ray import CurriculumClient, serve_curriculum
from zpd.integrations.toy import build_tiny_model, random_pass_rate, toy_items

G, B = 4, 4  # rollouts per prompt, prompts per request
NAME, NAMESPACE = "zpd-curriculum", "zpd-example"


@ray.remote(num_cpus=0)
class RolloutWorker:
    """Rolls out the curriculum's picks with a local model and reports the rewards."""

    def __init__(self, model_dir: str, seed: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(1)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.client = CurriculumClient(NAME, namespace=NAMESPACE)
        self.items, self.seed = toy_items(), seed

    def run(self, rounds: int) -> list[list[int]]:
        from zpd.integrations.toy import sample_completions

        given = []
        for r in range(rounds):
            ids = self.client.sample(B)
            prompts = [self.items[i].prompt for i in ids]
            texts = sample_completions(self.model, self.tokenizer, prompts, G,
                                       seed=self.seed * 1000 + r)
            rewards = [[float(self.items[i].solved_by(t)) for t in ts] for i, ts in zip(ids, texts)]
            self.client.update(ids, np.array(rewards))  # exactly once, even across a restart
            given.append(ids.tolist())
        return given


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=6, help="rounds per worker and phase")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="zpd_ray_"))
    model = build_tiny_model(out / "tiny_model")
    items = toy_items()

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    service = serve_curriculum(NAME, len(items), checkpoint_dir=str(out / "curriculum"),
                               policy="zpd", group_size=G, seed=0)
    workers = [RolloutWorker.remote(str(model), seed) for seed in range(args.workers)]
    first = ray.get([w.run.remote(args.rounds) for w in workers])
    print(f"phase 1: {ray.get(service.stats.remote())}")

    second_refs = [w.run.remote(args.rounds) for w in workers]  # in flight during the kill
    ray.kill(service, no_restart=False)
    second = ray.get(second_refs)
    stats = ray.get(service.stats.remote())
    print(f"phase 2 (after a kill and restart): {stats}")
    assert stats["restored"] and stats["updates"] == 2 * args.workers * args.rounds

    for w, (a, b) in enumerate(zip(first, second)):
        print(f"\nworker {w} was given:")
        for r, ids in enumerate(a + b):
            print(f"  round {r:2d}: " + ", ".join(items[i].prompt.removesuffix(" =") for i in ids))
    trials, reward_sum = ray.get(service.evidence.remote())
    mean, lower, upper = ray.get(service.estimate.remote(np.arange(len(items))))
    print("\nwhat the curriculum learned (random-policy pass rate = a reference):")
    print("  item   random  observed (rollouts)  estimate [interval]")
    for i, p in enumerate(random_pass_rate(items)):
        seen = reward_sum[i] / trials[i] if trials[i] else float("nan")
        print(f"  {items[i].prompt:6s} {p:6.2f}  {seen:8.2f} ({trials[i]:3d})     "
              f"{mean[i]:.2f} [{lower[i]:.2f}, {upper[i]:.2f}]")
    ray.shutdown()


if __name__ == "__main__":
    main()
