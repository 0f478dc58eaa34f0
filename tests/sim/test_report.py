"""Summaries over seeds, ratios to the oracle, floors, JSON output."""

from __future__ import annotations

import json
import math

import pytest

from zpd.sim import (
    RunConfig,
    RunMetrics,
    SimConfigError,
    WorldConfig,
    check_floors,
    format_floors,
    format_table,
    summarize,
    to_json,
)


def _run(policy: str, seed: int, informative: int, near: int = 0, groups: int = 1000) -> RunMetrics:
    return RunMetrics(
        policy=policy, seed=seed, groups=groups, informative=informative, rollouts=groups * 8,
        near_impossible=near, pq_sum=0.1 * groups, seconds=1.0, curriculum_seconds=0.5,
        final_mean_p=0.4,
    )


RUNS = [
    _run("uniform", 0, 400), _run("uniform", 1, 440),
    _run("mopps", 0, 600), _run("mopps", 1, 640),
    _run("oracle", 0, 1000), _run("oracle", 1, 980),
    _run("zpd", 0, 800, near=30), _run("zpd", 1, 820, near=50),
]


def test_metrics_derive_from_counts() -> None:
    run = _run("dapo", 0, informative=250, groups=1000)
    assert run.informative_fraction == 0.25
    assert run.rollouts_per_informative == 8000 / 250
    assert math.isinf(_run("dapo", 0, informative=0).rollouts_per_informative)


def test_summarize_means_stds_and_ratio_to_oracle() -> None:
    by = {s.policy: s for s in summarize(RUNS)}
    assert list(by) == ["uniform", "mopps", "oracle", "zpd"]
    inf = by["uniform"].stats["informative_fraction"]
    assert inf.mean == pytest.approx(0.42)
    assert inf.std == pytest.approx(0.02 * math.sqrt(2))
    assert inf.values == (0.4, 0.44)
    assert by["oracle"].ratio_to_oracle == pytest.approx(1.0)
    assert by["zpd"].ratio_to_oracle == pytest.approx(0.81 / 0.99)
    assert summarize([r for r in RUNS if r.policy != "oracle"])[0].ratio_to_oracle is None


def test_floors_pass_and_fail_on_the_right_side() -> None:
    checks = {c.name: c for c in check_floors(summarize(RUNS))}
    assert checks["informative vs oracle"].passed  # 0.82 >= 0.75
    assert checks["informative vs uniform"].value == pytest.approx(0.81 / 0.42)
    assert checks["informative vs uniform"].passed
    assert checks["informative vs mopps"].passed  # 0.81 / 0.62 = 1.31
    assert checks["near-impossible share"].value == pytest.approx(0.04)
    assert checks["near-impossible share"].passed
    worse = RUNS[:-2] + [_run("zpd", 0, 660, near=80), _run("zpd", 1, 660, near=80)]
    failed = {c.name for c in check_floors(summarize(worse)) if not c.passed}
    assert failed == {"informative vs oracle", "informative vs mopps", "near-impossible share"}
    assert "FAIL" in format_floors(check_floors(summarize(worse)))
    assert check_floors(summarize(RUNS[:2])) == []  # zpd was not run


def test_table_and_json_carry_every_policy() -> None:
    summaries = summarize(RUNS)
    table = format_table(summaries)
    for name in ("uniform", "mopps", "oracle", "zpd"):
        assert name in table
    out = json.loads(json.dumps(to_json(WorldConfig(), RunConfig(), summaries)))
    assert out["world"]["reward_kind"] == "binary"
    assert out["policies"]["zpd"]["informative_fraction"]["per_seed"] == [0.8, 0.82]
    assert out["policies"]["oracle"]["ratio_to_oracle"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs", [{"policies": ()}, {"policies": ("zpd", "zpd")}, {"seeds": ()},
               {"seeds": (0, -1)}, {"max_rounds": 0}],
)
def test_bad_run_config_raises(kwargs: dict[str, object]) -> None:
    with pytest.raises(SimConfigError):
        RunConfig(**kwargs)  # type: ignore[arg-type]
