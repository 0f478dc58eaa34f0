"""Run by ``accelerate launch --num_processes 2 --cpu`` from test_trl_two_processes.py.

``python trl_two_ranks.py MODEL OUT train`` trains ZPDGRPOTrainer for 4 steps with a checkpoint
at step 2; ``... OUT resume`` resumes from that checkpoint in OUT/b. Each rank writes
``OUT/<phase>-rank<k>.json``: the picks its sampler drew (per draw), every (ids, rewards) its
reward function scored (its own shard), the curriculum's per-item observation totals, and for
the resume phase the curriculum it restored.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import AutoTokenizer
from trl import GRPOConfig

from zpd.core.curriculum import Curriculum
from zpd.integrations.toy import toy_reward, toy_rows
from zpd.integrations.trl import ZPDGRPOTrainer

G = 4


def main() -> None:
    model, out, phase = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    calls: list[tuple[list[int], list[float]]] = []

    def toy(completions: list[str], zpd_id: list[int], **kw: Any) -> list[float]:
        rewards = toy_reward(completions, **kw)
        calls.append(([int(i) for i in zpd_id], rewards))
        return rewards

    data = Dataset.from_list(toy_rows())
    args = GRPOConfig(output_dir=str(out / ("a" if phase == "train" else "b")),
                      per_device_train_batch_size=4, num_generations=G,
                      max_completion_length=4, max_steps=4, learning_rate=1e-3, bf16=False,
                      gradient_checkpointing=False, use_cpu=True, report_to="none",
                      logging_steps=1, save_strategy="steps" if phase == "train" else "no",
                      save_steps=2, seed=0, disable_tqdm=True)
    tr = ZPDGRPOTrainer(model=str(model), reward_funcs=toy, args=args, train_dataset=data,
                        processing_class=AutoTokenizer.from_pretrained(model),
                        curriculum=Curriculum(len(data), group_size=G, seed=0), record=True)
    resume = str(out / "a" / "checkpoint-2") if phase == "resume" else None
    restored: dict[str, Any] | None = None
    if resume is not None:
        orig = tr.zpd_sampler.load

        def spy(folder: Any) -> None:
            nonlocal restored
            orig(folder)
            ids = np.arange(tr.curriculum.num_items)
            restored = {"mean": tr.curriculum.estimate(ids).mean.tolist(),
                        "updates": tr.zpd_sampler.ledger.updates}

        tr.zpd_sampler.load = spy  # type: ignore[method-assign]
    tr.train(resume_from_checkpoint=resume)
    rank = tr.accelerator.process_index
    ids = np.arange(tr.curriculum.num_items)
    report = {
        "rank": rank,
        "world": tr.accelerator.num_processes,
        "draws": [d.ids.tolist() for d in tr.zpd_sampler.history],
        "calls": calls,
        "updates": tr.zpd_sampler.ledger.updates,
        "mean": tr.curriculum.estimate(ids).mean.tolist(),
        "restored": restored,
    }
    (out / f"{phase}-rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
