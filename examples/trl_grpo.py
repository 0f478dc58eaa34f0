"""Train TRL's GRPOTrainer on a zpd curriculum, offline on CPU (about a minute).

    python examples/trl_grpo.py [--steps 24] [--model PATH] [--out DIR]
    python examples/trl_grpo.py --lab [--model LAB_CHECKPOINT]     # a zpd lab checkpoint

Builds a tiny Llama-layout model and word-level tokenizer from a config (or loads ``--model``,
any local HF model whose tokenizer has words: "gt 7 =" is solved by any digit above 7), makes
the toy task itself, or with ``--lab`` trains a lab checkpoint (default: the shipped demo base)
on the lab's own reversal prompts (``zpd.lab.trl_tasks``: the lab's prompt format, its
verifier as the reward, its completion length and learning rate), and trains with
``ZPDGRPOTrainer``: the curriculum
picks the prompts, gets every group's rewards, logs ``curriculum/...`` through TRL and is saved
in each checkpoint. It prints what the curriculum chose each generation batch and, at the end,
what it learned about every item next to the item's pass rate under a uniformly random policy.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from datasets import Dataset
from transformers import AutoTokenizer
from trl import GRPOConfig

from zpd.core.curriculum import Curriculum
from zpd.integrations.toy import build_tiny_model, random_pass_rate, toy_items, toy_reward, toy_rows
from zpd.integrations.trl import ZPDGRPOTrainer

G = 4  # rollouts per prompt (GRPO group size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=24, help="optimizer steps")
    ap.add_argument("--model", type=Path, default=None,
                    help="local HF model folder (with --lab: a lab checkpoint; default: the "
                         "shipped demo base)")
    ap.add_argument("--lab", action="store_true",
                    help="train a zpd lab checkpoint on lab tasks (string reversal, 3-7 digits)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temp dir)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="zpd_trl_"))
    if args.lab:
        _lab(args, out)
        return
    model = args.model or build_tiny_model(out / "tiny_model")

    items = toy_items()
    data = Dataset.from_list(toy_rows(items))  # columns: prompt, zpd_id (= row), op, k
    curriculum = Curriculum(num_items=len(data), policy="zpd", group_size=G, seed=0)
    config = GRPOConfig(
        output_dir=str(out / "run"), max_steps=args.steps, per_device_train_batch_size=16,
        steps_per_generation=2,  # two steps per drawn block: the next draw sees the last update
        num_generations=G, max_completion_length=4, learning_rate=5e-4, beta=0.0,
        bf16=False, gradient_checkpointing=False, use_cpu=True, report_to="none",
        logging_steps=2, save_strategy="steps", save_steps=args.steps // 2, seed=0,
        disable_tqdm=True,
    )
    trainer = ZPDGRPOTrainer(
        model=str(model), reward_funcs=toy_reward, args=config, train_dataset=data,
        processing_class=AutoTokenizer.from_pretrained(model), curriculum=curriculum, record=True,
    )
    trainer.train()
    _report(trainer, items, out)


def _lab(args: argparse.Namespace, out: Path) -> None:
    """A lab checkpoint in TRL: the lab's prompts, verifier, lengths and learning rate."""
    from zpd.lab import tasks
    from zpd.lab.experiments import demo_config
    from zpd.lab.pretrain import pretrain
    from zpd.lab.trl_tasks import RECOMMENDED_LR, completion_length, lab_reward, trl_dataset

    model = args.model or pretrain(demo_config().pretrain, None, progress=False)  # shipped base
    items = tasks.make_items(tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(3, 7),
                                              n_items=64), seed=0, unique=True)
    data = trl_dataset(items)
    config = GRPOConfig(
        output_dir=str(out / "run"), max_steps=args.steps, per_device_train_batch_size=16,
        steps_per_generation=2, num_generations=G, max_completion_length=completion_length(items),
        learning_rate=RECOMMENDED_LR, beta=0.0, bf16=False, gradient_checkpointing=False,
        use_cpu=True, report_to="none", logging_steps=2, save_strategy="no", seed=0,
        disable_tqdm=True,
    )
    trainer = ZPDGRPOTrainer(
        model=str(model), reward_funcs=lab_reward, args=config, train_dataset=data,
        processing_class=AutoTokenizer.from_pretrained(model),
        curriculum=Curriculum(num_items=len(data), policy="zpd", group_size=G, seed=0),
        record=True,
    )
    trainer.train()
    logged = [h for h in trainer.state.log_history if "curriculum/batch_pass_rate" in h]
    print("batch pass rate per logged step:",
          ", ".join(f"{h['curriculum/batch_pass_rate']:.2f}" for h in logged))


def _report(trainer: ZPDGRPOTrainer, items: list, out: Path) -> None:
    print("\nwhat the curriculum chose (one line per generation batch):")
    for draw in trainer.zpd_sampler.history:
        prompts = ", ".join(items[i].prompt.removesuffix(" =") for i in draw.ids)
        print(f"  draw {draw.seq:2d} (staleness {draw.staleness}): {prompts}")
    logged = [h for h in trainer.state.log_history if "curriculum/batch_pass_rate" in h]
    print("\ncurriculum metrics logged through TRL (last entry):")
    for key, value in sorted(logged[-1].items()):
        if key.startswith("curriculum/"):
            print(f"  {key:32s} {value:.3f}")
    ids = np.arange(len(items))
    est = trainer.curriculum.estimate(ids)
    picks = np.bincount(np.concatenate([d.ids for d in trainer.zpd_sampler.history]),
                        minlength=len(items))
    print("\nwhat it learned (random-policy pass rate = a reference, the model is barely trained):")
    print("  item   random  estimate [interval]     picks")
    for i, p in zip(ids, random_pass_rate(items)):
        print(f"  {items[i].prompt:6s} {p:6.2f}  {est.mean[i]:6.2f} [{est.lower[i]:.2f}, "
              f"{est.upper[i]:.2f}]  {picks[i]:5d}")
    print(f"\ncheckpoints with the curriculum state (zpd_bundle.json): {out / 'run'}")


if __name__ == "__main__":
    main()
