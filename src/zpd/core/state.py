"""No-pickle persistence of curriculum state: one .npz file with a JSON header entry.

The file holds plain numeric arrays plus ``__header__``, a uint8 array of UTF-8 JSON with the
format name, version and scalars. It is loaded with ``np.load(allow_pickle=False)``; foreign,
other-version and truncated files raise :class:`~zpd.core.errors.StateError`. Writes are atomic
(temporary file in the same directory, fsync, ``os.replace``). This module knows nothing about
what the arrays mean; :mod:`zpd.core.curriculum` builds and checks them.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from zpd.core.atomic import atomic_open
from zpd.core.errors import StateError

__all__ = ["FORMAT", "VERSION", "read_state", "write_state"]

FORMAT = "zpd.curriculum"
"""Format name written in every header."""
VERSION = 3
"""Format version; files of any other version are refused. 2: zpd policy mastered-item
reservoir and tail price, static policy percentile reference, narrow category dtype.
3: zpd policy recent draws (repeat cap), GRESO epoch walk (order, cursor, epoch)."""

_HEADER = "__header__"


def write_state(path: str | os.PathLike[str], header: dict[str, Any],
                arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Atomically write ``header`` (JSON-able) and ``arrays`` to ``path`` (.npz)."""
    target = Path(path)
    if target.is_dir():
        raise StateError(f"cannot save state to {target}: it is a directory")
    if _HEADER in arrays:
        raise StateError(f"array name {_HEADER!r} is reserved")
    head = dict(header, format=FORMAT, version=VERSION)
    blob = np.frombuffer(json.dumps(head, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    payload: dict[str, Any] = {_HEADER: blob, **arrays}
    with atomic_open(target, "wb") as fh:
        np.savez(fh, **payload)


def read_state(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """Read and check a state file; return ``(header, arrays)`` or raise :class:`StateError`."""
    source = Path(path)
    if not source.is_file():
        raise StateError(f"no state file at {source}")
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key]) for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise StateError(
            f"{source} is not a readable zpd state file (truncated, corrupt or foreign): {exc}"
        ) from exc
    blob = arrays.pop(_HEADER, None)
    if blob is None or blob.dtype != np.uint8 or blob.ndim != 1:
        raise StateError(f"{source} is not a zpd state file: no {_HEADER!r} entry")
    try:
        header = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"{source} has a corrupt header: {exc}") from exc
    check_header(header, str(source))
    return header, arrays


def check_header(header: object, where: str = "state") -> None:
    """Raise :class:`StateError` unless ``header`` names this format and version."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateError(f"{where} is not a zpd curriculum state (format {FORMAT!r} expected)")
    version = header.get("version")
    if version != VERSION:
        raise StateError(
            f"{where} has state format version {version!r}; this zpd reads version {VERSION} "
            "only: re-create the curriculum or load it with the zpd version that wrote it"
        )
