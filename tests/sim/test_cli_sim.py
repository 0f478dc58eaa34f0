"""`zpd sim` end to end at tiny size: table, JSON, floors exit code, bad input."""

from __future__ import annotations

import json

import pytest

from zpd.cli.main import main

TINY = ["sim", "--items", "2000", "--steps", "12", "--batch", "32", "--group-size", "4",
        "--quiet"]


def test_sim_prints_a_table_per_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY, "--seeds", "2", "--policies", "uniform,oracle"]) == 0
    out = capsys.readouterr().out
    assert "2000 items" in out and "2 seed(s)" in out
    rows = [line.split()[0] for line in out.splitlines()[3:] if line.strip()]
    assert rows == ["uniform", "oracle"]


def test_sim_json_has_ratios_and_per_seed_values(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*TINY, "--seeds", "3", "--policies", "uniform,zpd,oracle", "--json",
                 "--preset", "fractional-rewards", "--set", "drift_rate=0.02"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["world"]["reward_kind"] == "fractional"
    assert out["world"]["drift_rate"] == 0.02
    assert out["run"]["seeds"] == [0, 1, 2]
    for name in ("uniform", "zpd", "oracle"):
        stats = out["policies"][name]
        assert len(stats["informative_fraction"]["per_seed"]) == 3
        assert 0.0 <= stats["near_impossible_share"]["mean"] <= 1.0
    assert out["policies"]["oracle"]["ratio_to_oracle"] == pytest.approx(1.0)


def test_sim_floors_exit_code_follows_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*TINY, "--seeds", "1", "--policies", "uniform,zpd", "--floors", "--json"])
    out = json.loads(capsys.readouterr().out)
    floors = out["floors"]
    assert [f["name"] for f in floors] == ["informative vs uniform", "near-impossible share"]
    assert code == (0 if all(f["passed"] for f in floors) else 1)


@pytest.mark.parametrize(
    "extra", [["--preset", "nope"], ["--set", "drift_rate"], ["--set", "num_itemz=3"],
              ["--seeds", "0"], ["--items", "-4"]],
)
def test_sim_bad_input_fails_with_a_message(extra: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY, *extra]) == 2
    assert "zpd sim: error:" in capsys.readouterr().err
