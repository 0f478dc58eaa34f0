"""Lab tasks as a TRL dataset and reward: everything a lab checkpoint needs in ``GRPOTrainer``.

What it is: the one place that knows how a lab checkpoint expects its prompts, so that
``ZPDGRPOTrainer`` (or plain ``GRPOTrainer``) can train one without private knowledge:

* prompts are the lab's own strings, e.g. ``R>74521d=`` (op letter, operands, requested format
  tag, ``=``), digits least-significant first; the lab tokenizer has no letters beyond the op and
  format tags and no space, so any other text becomes unknown tokens (``~``) and earns nothing;
* the model ends a completion with ``$``, its eos token; TRL stops there and strips it when it
  decodes, and :func:`lab_reward` scores the completion without it (``zpd.lab.tasks.verify``);
* the context is 96 tokens (``n_positions``), so ``max_completion_length`` is
  :func:`completion_length` (the longest faithful completion plus 2), a dozen tokens here;
* learning rate: the lab's own GRPO uses 3e-5 (the demo) to 1e-4 (the shortcut lab); at 2e-4
  and above, GRPO on these 0.6M-parameter models collapsed in TRL and in the lab alike.

:func:`trl_dataset` builds a ``datasets.Dataset`` (``prompt``, ``zpd_id`` = row, ``lab_item``:
the item as JSON, which the reward reads back). What it is not: a lab pretraining or RL loop
(:mod:`zpd.lab.pretrain`, :mod:`zpd.lab.rl`), nor a change to TRL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from zpd.lab import tasks

RECOMMENDED_LR = 3e-5
"""GRPO learning rate for lab checkpoints (the demo's; >= 2e-4 collapsed)."""

__all__ = ["RECOMMENDED_LR", "completion_length", "item_from_json", "lab_reward", "trl_dataset"]


def _item_json(item: tasks.Item) -> str:
    return json.dumps({k: list(v) if isinstance(v, tuple) else v
                       for k, v in item.__dict__.items()}, sort_keys=True)


def item_from_json(text: str) -> tasks.Item:
    """The ``tasks.Item`` a ``lab_item`` column holds; a clear error for anything else."""
    try:
        d = json.loads(text)
        d["operands"], d["steps"] = tuple(d["operands"]), tuple(d["steps"])
        return tasks.Item(**d)
    except (TypeError, ValueError, KeyError) as exc:
        raise tasks.TaskError(f"lab_item {text[:60]!r} is not a lab item ({exc}); build the "
                              "dataset with zpd.lab.trl_tasks.trl_dataset") from None


def trl_dataset(items: Sequence[tasks.Item]) -> Any:
    """A ``datasets.Dataset`` of lab items: ``prompt`` (the lab string), ``zpd_id`` (row, the
    id ``ZPDGRPOTrainer`` tracks), ``lab_item`` (the item, for :func:`lab_reward`)."""
    from datasets import Dataset

    if not items:
        raise tasks.TaskError("trl_dataset needs at least one lab item")
    return Dataset.from_list([{"prompt": it.prompt, "zpd_id": i, "lab_item": _item_json(it)}
                              for i, it in enumerate(items)])


def lab_reward(completions: Sequence[Any], lab_item: Sequence[str], **_: Any) -> list[float]:
    """TRL reward function: 1.0 when a completion is right in the requested format (the lab
    verifier), else 0.0. Conversational completions (lists of messages) are read as text."""
    if len(completions) != len(lab_item):
        raise tasks.TaskError(f"lab_reward got {len(completions)} completions and "
                              f"{len(lab_item)} lab_item values; keep the lab_item column")
    out = []
    for c, raw in zip(completions, lab_item):
        text = c[-1]["content"] if isinstance(c, list) else str(c)
        out.append(tasks.verify(item_from_json(raw), text))
    return out


def completion_length(items: Sequence[tasks.Item]) -> int:
    """``max_completion_length`` for these items: the longest faithful completion plus 2."""
    from zpd.lab.rl import completion_budget

    return completion_budget(items)
