"""Atomic file writes: the one place zpd turns bytes into a file that is never half-written.

A write goes to a temporary file in the target's own directory, is flushed and fsynced, then
``os.replace``-d over the target, and the directory entry is fsynced: a reader (or a resumed run)
sees the old file or the new one, never a truncated mix, even if the process dies mid-write.
Every module that saves state, checkpoints, reports or results uses these helpers.

Not here: file formats (state layout lives in :mod:`zpd.core.state`, results in their modules).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@overload
def atomic_open(path: str | os.PathLike[str], mode: Literal["w"] = "w") -> contextlib.AbstractContextManager[IO[str]]: ...
@overload
def atomic_open(path: str | os.PathLike[str], mode: Literal["wb"]) -> contextlib.AbstractContextManager[IO[bytes]]: ...
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> contextlib.AbstractContextManager[IO[Any]]:
    """Open ``path`` for writing (``"w"`` text as UTF-8, or ``"wb"``); it appears only on success.

    Nothing is written at ``path`` if the ``with`` block raises; the temporary file is removed.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', not {mode!r}")
    return _atomic_open(Path(path), mode)


@contextlib.contextmanager
def _atomic_open(target: Path, mode: str) -> Iterator[IO[Any]]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def finite_json(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON has neither), numpy
    scalars and arrays made plain, tuples made lists: what strict JSON can hold."""
    if isinstance(obj, dict):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return finite_json(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def strict_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`finite_json` (obj) with ``allow_nan=False``: never writes the
    ``NaN`` / ``Infinity`` tokens that strict JSON readers reject."""
    return json.dumps(finite_json(obj), allow_nan=False, **kwargs)


def atomic_write_json(path: str | os.PathLike[str], obj: object, *, indent: int | None = 2,
                      sort_keys: bool = False) -> None:
    """Write ``obj`` as strict JSON (NaN and infinities as null; trailing newline) to ``path``
    atomically."""
    atomic_write_text(path, strict_dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")
