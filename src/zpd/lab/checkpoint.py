"""Training-state checkpoints of the lab (pretraining and GRPO), written so that a kill at any
moment leaves the previous one usable.

What it is: :func:`save` writes ``root/step-<step>/`` — ``model.safetensors`` (weights),
``optimizer.safetensors`` (AdamW moments plus any extra tensors, e.g. RNG states) and
``state.json`` (the optimizer's param groups and scalars plus caller metadata) — each file
atomically, then points ``root/latest.json`` at it and deletes older ones. :func:`load` restores
the latest into a model and optimizer and returns its metadata and extra tensors. No pickle: the
tensors are safetensors, the rest is JSON. What it is not: a policy about *when* to save (the
callers decide) nor a model export (see ``zpd.lab.model.save_pretrained``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from zpd.core.atomic import atomic_write_bytes, strict_dumps
from zpd.core.errors import StateError

LATEST = "latest.json"


def save(root: Path, step: int, model: Any, optimizer: Any,
         tensors: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None,
         before_latest: Callable[[Path], None] | None = None) -> Path:
    """Write one checkpoint under ``root`` and make it the latest; returns its folder.
    ``before_latest(folder)`` writes any other file of the checkpoint (atomically) before the
    pointer moves."""
    from safetensors.torch import save as st_save

    d = root / f"step-{step:08d}"
    d.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(d / "model.safetensors", st_save(weights))
    osd = optimizer.state_dict()
    blobs = {k: v.detach().clone().contiguous() for k, v in (tensors or {}).items()}
    scalars: dict[str, Any] = {}
    for pid, st in osd["state"].items():
        for k, v in st.items():
            if hasattr(v, "detach"):
                blobs[f"opt.{pid}.{k}"] = v.detach().clone().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    atomic_write_bytes(d / "optimizer.safetensors", st_save(blobs))
    state = {**dict(meta or {}), "step": step, "param_groups": osd["param_groups"],
             "scalars": scalars}
    atomic_write_bytes(d / "state.json", strict_dumps(state).encode())
    if before_latest is not None:
        before_latest(d)
    atomic_write_bytes(root / LATEST, json.dumps({"dir": d.name, "step": step}).encode())
    for old in root.glob("step-*"):
        if old.name != d.name:
            shutil.rmtree(old, ignore_errors=True)
    return d


def read(root: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """(state.json, weights, tensors) of the latest checkpoint, or None if there is none;
    :class:`StateError` naming the folder if it is unreadable."""
    from safetensors.torch import load_file

    pointer = root / LATEST
    if not pointer.is_file():
        return None
    try:
        d = root / json.loads(pointer.read_text())["dir"]
        meta = json.loads((d / "state.json").read_text())
        weights = load_file(str(d / "model.safetensors"))
        tensors = load_file(str(d / "optimizer.safetensors"))
    except Exception as exc:  # OSError, KeyError, JSON and safetensors errors alike
        raise StateError(
            f"checkpoint in {root} is unreadable ({exc}); delete that folder to restart"
        ) from None
    if not isinstance(meta, dict) or "param_groups" not in meta or "scalars" not in meta:
        raise StateError(f"checkpoint in {root} is not a zpd lab checkpoint; delete that folder "
                         "to restart")
    return meta, weights, tensors


def restore(model: Any, optimizer: Any, meta: Mapping[str, Any], weights: Mapping[str, Any],
            tensors: Mapping[str, Any]) -> None:
    """Load a checkpoint's weights and optimizer state (from :func:`read`) into place."""
    model.load_state_dict(dict(weights))
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


__all__ = ["LATEST", "read", "restore", "save"]
