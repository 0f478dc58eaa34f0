"""A zpd curriculum as verl 0.7's curriculum sampler, offline on CPU (under a minute).

    bash scripts/verl_env.sh                     # once: .venv-verl with verl 0.7.1 (numpy<2)
    .venv-verl/bin/python examples/verl_sampler.py [--steps 12] [--out DIR]

In a real run you only set the config keys printed below and run ``verl.trainer.main_ppo``.
verl's rollout and actor workers need GPUs (vLLM/SGLang servers), so this example drives verl's
own data path — ``create_rl_dataset``, the sampler factory ``create_rl_sampler``,
``StatefulDataLoader``, ``DataProto`` with uids, ``repeat(n, interleave=True)``,
``token_level_scores`` and ``sampler.update(batch)``, as ``RayPPOTrainer.fit`` does — with a
tiny local model (built from a config) sampling the completions in place of the workers. The
model is not trained here, so the curriculum learns a fixed policy's pass rates. Prints what the
curriculum chose and what it learned.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import verl
from omegaconf import OmegaConf
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import AutoModelForCausalLM, AutoTokenizer
from verl import DataProto
from verl.trainer.main_ppo import create_rl_dataset, create_rl_sampler
from verl.utils.dataset.rl_dataset import collate_fn

from zpd.integrations.toy import (
    ToyItem,
    build_tiny_model,
    random_pass_rate,
    sample_completions,
    toy_items,
    toy_verl_rows,
)

N_ROLL, BATCH = 4, 4  # actor_rollout_ref.rollout.n, data.train_batch_size

SAMPLER_KEYS = {
    "data.sampler.class_path": "pkg://zpd.integrations.verl",
    "data.sampler.class_name": "ZPDCurriculumSampler",
    "data.dataloader_num_workers": 0,
    "+data.sampler.zpd.group_size": N_ROLL,
    "+data.sampler.zpd.policy": "zpd",
}


def data_config(train: str, save_dir: str) -> object:
    base = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/data/legacy_data.yaml")
    return OmegaConf.merge(base, {
        "train_files": train, "val_files": train, "train_batch_size": BATCH,
        "dataloader_num_workers": 0, "tool_config_path": None,
        "cache_dir": str(Path(save_dir).parent / "cache"),
        "sampler": {"class_path": SAMPLER_KEYS["data.sampler.class_path"],
                    "class_name": SAMPLER_KEYS["data.sampler.class_name"],
                    "zpd": {"group_size": N_ROLL, "policy": "zpd", "save_dir": save_dir}},
    })


def rollout(batch_dict: dict, model, tokenizer, items: list[ToyItem], seed: int) -> DataProto:
    """One fit-loop step up to ``update``: uid, n rollouts per prompt, sequence scores."""
    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))],
                                             dtype=object)
    prompts = [tokenizer.apply_chat_template(list(m), tokenize=False)
               for m in batch.non_tensor_batch["raw_prompt"]]
    texts = sample_completions(model, tokenizer, prompts, N_ROLL, seed=seed)  # [B][n]
    batch = batch.repeat(repeat_times=N_ROLL, interleave=True)
    index = batch.non_tensor_batch["index"].astype(int)  # (B*n,) item ids
    flat = [t for per_prompt in texts for t in per_prompt]  # interleaved like the repeat
    scores = torch.zeros(len(batch), 4)
    scores[:, -1] = torch.tensor([float(items[i].solved_by(t)) for i, t in zip(index, flat)])
    batch.batch["token_level_scores"] = scores  # (B*n, T): the score on the last token
    return batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="zpd_verl_"))
    model_dir = build_tiny_model(out / "tiny_model")
    items = toy_items()
    train = out / "train.parquet"
    pd.DataFrame(toy_verl_rows(items)).to_parquet(train)  # extra_info.index = item id

    print("config keys for verl.trainer.main_ppo:")
    for key, value in SAMPLER_KEYS.items():
        print(f"  {key}={value}")
    cfg = data_config(str(train), str(out / "curriculum"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    dataset = create_rl_dataset(cfg.train_files, cfg, tokenizer, None)
    sampler = create_rl_sampler(cfg, dataset)  # verl's factory builds ZPDCurriculumSampler
    loader = StatefulDataLoader(dataset=dataset, batch_size=BATCH, num_workers=0, drop_last=True,
                                collate_fn=collate_fn, sampler=sampler)

    print(f"\nsampler: {type(sampler).__module__}.{type(sampler).__name__}")
    step, it = 0, iter(loader)
    while step < args.steps:
        try:
            batch_dict = next(it)
        except StopIteration:  # a new epoch, as verl's fit loop does
            it = iter(loader)
            continue
        batch = rollout(batch_dict, model, tokenizer, items, seed=step)
        sampler.update(batch)  # what RayPPOTrainer.fit calls after each step
        picks = sorted(set(batch.non_tensor_batch["index"].astype(int).tolist()))
        m = sampler.last_metrics
        print(f"  step {step:2d}: " + ", ".join(items[i].prompt.removesuffix(" =") for i in picks)
              + f"   pass {m['curriculum/batch_pass_rate']:.2f}"
              + f"  informative {m['curriculum/informative_share']:.2f}")
        step += 1

    est = sampler.curriculum.estimate(np.arange(len(items)))
    print("\nwhat the curriculum learned (random-policy pass rate = a reference):")
    for i, p in enumerate(random_pass_rate(items)):
        print(f"  {items[i].prompt:6s} random {p:.2f}   estimate {est.mean[i]:.2f} "
              f"[{est.lower[i]:.2f}, {est.upper[i]:.2f}]")
    print(f"\npickle-free curriculum copy (save_dir): {out / 'curriculum'}")
    print(f"the sampler's state also rides in verl's checkpoints: {sorted(sampler.state_dict())}")


if __name__ == "__main__":
    main()
