"""zpd.core.atomic: a write that fails half-way leaves the old file and no temporary behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zpd.core.atomic import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_writes_create_parents_and_replace(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.json"
    atomic_write_json(target, {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1}
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


def test_interrupted_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(KeyboardInterrupt), atomic_open(target, "wb") as fh:
        fh.write(b"half of the new")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"], "temporary file left behind"


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        atomic_open(tmp_path / "f", "a")  # type: ignore[call-overload]
