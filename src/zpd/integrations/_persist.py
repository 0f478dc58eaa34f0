"""Durable, pickle-free saving of a curriculum together with a host shim's own JSON state.

A bundle is a folder holding ``zpd_curriculum.<gen>.npz`` (written by ``Curriculum.save``) and a
``zpd_bundle.json`` manifest naming that file plus the shim's JSON state (sampler ledger, Ray
dedup table). The manifest is replaced atomically (temp file, fsync, ``os.replace``) after the
curriculum file is complete, so a crash at any point leaves the previous bundle readable.

What it is not: the curriculum's own format (that is ``zpd.core.state``); nothing here unpickles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zpd.core.atomic import atomic_write_json
from zpd.integrations._errors import IntegrationError

MANIFEST = "zpd_bundle.json"
BUNDLE_VERSION = 1


def has_bundle(folder: str | Path) -> bool:
    """True when ``folder`` holds a bundle manifest."""
    return (Path(folder) / MANIFEST).is_file()


def save_bundle(folder: str | Path, curriculum: Any, extra: dict[str, Any]) -> Path:
    """Save ``curriculum`` and the JSON-ready ``extra`` to ``folder``; returns the manifest path.

    The previous generation's curriculum file is removed only after the new manifest is in place.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    old = _read_manifest(folder) if has_bundle(folder) else None
    gen = 0 if old is None else int(old["generation"]) + 1
    name = f"zpd_curriculum.{gen}.npz"
    curriculum.save(folder / name)
    manifest = {"version": BUNDLE_VERSION, "generation": gen, "curriculum": name, "extra": extra}
    atomic_write_json(folder / MANIFEST, manifest, indent=None)
    if old is not None and old["curriculum"] != name:
        (folder / old["curriculum"]).unlink(missing_ok=True)
    return folder / MANIFEST


def load_bundle(folder: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load ``(curriculum, extra)`` saved by :func:`save_bundle`."""
    from zpd.core.curriculum import Curriculum

    folder = Path(folder)
    manifest = _read_manifest(folder)
    curriculum = Curriculum.load(folder / manifest["curriculum"])
    return curriculum, manifest["extra"]


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        ok = (
            isinstance(manifest, dict)
            and manifest.get("version") == BUNDLE_VERSION
            and isinstance(manifest.get("curriculum"), str)
            and isinstance(manifest.get("extra"), dict)
            and "/" not in manifest["curriculum"]
        )
    except (OSError, json.JSONDecodeError) as e:
        raise IntegrationError(
            f"cannot read the zpd bundle manifest {path} ({e}); point to a folder written by "
            "save_bundle (a checkpoint folder of a zpd-enabled run)"
        ) from e
    if not ok:
        raise IntegrationError(
            f"{path} is not a version-{BUNDLE_VERSION} zpd bundle manifest; it was written by "
            "another tool or another zpd version"
        )
    out: dict[str, Any] = manifest
    return out
