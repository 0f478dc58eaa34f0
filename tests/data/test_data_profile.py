"""Competence per category: intervals, joins with the dataset, and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datahelpers import write_jsonl

from zpd.data.errors import DataError
from zpd.data.io import ResultLog
from zpd.data.profile import competence_profile, plot_profile, profile_results


def test_profile_worked_example_and_interval_methods() -> None:
    cats = ["a"] * 4 + ["b"] * 4
    succ = [8, 8, 6, 6, 0, 1, 0, 1]
    prof = competence_profile(cats, succ, [8] * 8, seed=0)
    assert [c.category for c in prof] == ["b", "a"]  # lowest competence first
    b, a = prof
    assert a.mean == pytest.approx(0.875) and b.mean == pytest.approx(1 / 16)
    assert (a.items, a.samples, a.successes) == (4, 32.0, 28.0)
    assert a.lower <= a.mean <= a.upper and a.upper <= 1.0
    assert a.lower > b.upper  # the asymmetry is resolved by the intervals
    pooled = competence_profile(cats, succ, [8] * 8, method="wilson")
    assert pooled[1].mean == pytest.approx(28 / 32)
    # bootstrap over items reflects item spread; a category of identical items has zero width
    flat = competence_profile(["c"] * 5, [4] * 5, [8] * 5)[0]
    assert flat.lower == flat.upper == pytest.approx(0.5)
    with pytest.raises(DataError, match="one length"):
        competence_profile(["a"], [1, 2], [2, 2])


def _results(path: Path, cats: list[str] | None, succ: list[int]) -> Path:
    log = ResultLog(path, {"command": "score difficulty"})
    log.append([{"row": i, "n": 4, "successes": s, "pass_rate": s / 4,
                 **({"category": cats[i]} if cats else {})} for i, s in enumerate(succ)])
    log.finish({"rows": len(succ)})
    return path


def test_profile_from_results_or_joined_dataset_and_plot(tmp_path: Path) -> None:
    succ = [4, 3, 0, 1, 4, 0]
    cats = ["x", "x", "y", "y", "x", "y"]
    with_cats = profile_results(_results(tmp_path / "a.jsonl", cats, succ))
    bare = _results(tmp_path / "b.jsonl", None, succ)
    with pytest.raises(DataError, match="category"):
        profile_results(bare)
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "rel": c} for c in cats])
    joined = profile_results(bare, data=data, category_field="rel")
    assert with_cats == joined
    assert {c.category: c.items for c in joined} == {"x": 3, "y": 3}
    png = tmp_path / "p.png"
    plot_profile(joined, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
    assert np.isclose(json.loads(json.dumps([c.mean for c in joined]))[1], 11 / 12)


def test_zero_width_bootstrap_intervals_carry_a_note_with_the_wilson_interval() -> None:
    from zpd.data.profile import competence_profile

    prof = competence_profile(["one", "zeros", "zeros", "mixed", "mixed"], [3, 0, 0, 1, 4],
                              [4, 4, 4, 4, 4])
    by = {c.category: c for c in prof}
    assert by["one"].lower == by["one"].upper and "one item" in by["one"].note
    assert by["zeros"].upper == 0.0 and "same pass rate" in by["zeros"].note
    assert "[0.000, 0.324]" in by["zeros"].note  # Wilson 95 % for 0 of 8
    assert by["mixed"].note == "" and by["mixed"].upper > by["mixed"].lower
    wilson = competence_profile(["zeros", "zeros"], [0, 0], [4, 4], method="wilson")
    assert wilson[0].note == "" and wilson[0].upper > 0.3
