"""Every bad input raises a clear ZpdError subclass and leaves the curriculum exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from corehelpers import same_state

import zpd

N = 300  # items in the `trained` fixture
GOOD_IDS = np.array([1, 2, 3])
GOOD_R = np.zeros((3, 8))

BAD_CALLS: list[tuple[str, Callable[[zpd.Curriculum], Any], type[zpd.ZpdError], str]] = [
    ("nan reward", lambda c: c.update(GOOD_IDS, np.full((3, 8), np.nan)), zpd.RewardError, "NaN"),
    ("inf reward", lambda c: c.update(GOOD_IDS, np.full((3, 8), np.inf)), zpd.RewardError, "inf"),
    ("reward > 1", lambda c: c.update(GOOD_IDS, np.full((3, 8), 1.5)), zpd.RewardError, "[0, 1]"),
    ("reward < 0", lambda c: c.update(GOOD_IDS, np.full((3, 8), -0.1)), zpd.RewardError, "[0, 1]"),
    ("1-D rewards", lambda c: c.update(GOOD_IDS, np.zeros(3)), zpd.RewardError, "2-D"),
    ("3-D rewards", lambda c: c.update(GOOD_IDS, np.zeros((3, 8, 1))), zpd.RewardError, "2-D"),
    ("row mismatch", lambda c: c.update(GOOD_IDS, np.zeros((4, 8))), zpd.RewardError, "rows"),
    ("zero rollouts", lambda c: c.update(GOOD_IDS, np.zeros((3, 0))), zpd.RewardError, "column"),
    ("text rewards", lambda c: c.update(GOOD_IDS, [["a"] * 8] * 3), zpd.RewardError, "numeric"),
    ("negative id", lambda c: c.update([-1, 2, 3], GOOD_R), zpd.IdError, "non-negative"),
    ("unknown id", lambda c: c.update([1, 2, N], GOOD_R), zpd.IdError, "unknown item id"),
    ("float ids", lambda c: c.update([1.0, 2.0, 3.0], GOOD_R), zpd.IdError, "integers"),
    ("bool ids", lambda c: c.update([True, False, True], GOOD_R), zpd.IdError, "integers"),
    ("2-D ids", lambda c: c.update([[1, 2, 3]], GOOD_R), zpd.IdError, "1-D"),
    ("estimate unknown", lambda c: c.estimate([N + 5]), zpd.IdError, "unknown item id"),
    ("quarantined negative", lambda c: c.quarantined([-3]), zpd.IdError, "non-negative"),
    ("advantage bad rewards", lambda c: c.advantage(GOOD_IDS, GOOD_R + 2), zpd.RewardError,
     "[0, 1]"),
    ("sample zero", lambda c: c.sample(0), zpd.SampleSizeError, ">= 1"),
    ("sample negative", lambda c: c.sample(-4), zpd.SampleSizeError, ">= 1"),
    ("sample too many", lambda c: c.sample(N + 1), zpd.SampleSizeError, "unique ids"),
    ("sample float", lambda c: c.sample(2.5), zpd.SampleSizeError, "integer"),
    ("add zero items", lambda c: c.add_items(0), zpd.SampleSizeError, ">= 1"),
    ("add wrong length", lambda c: c.add_items(3, {"len": np.zeros(4)}), zpd.FeatureError,
     "length 3"),
    ("add unknown feature", lambda c: c.add_items(2, {"colour": np.zeros(2)}), zpd.FeatureError,
     "unknown feature"),
    ("add float category", lambda c: c.add_items(2, {"category": np.array([0.0, np.nan])}),
     zpd.FeatureError, "category"),
    ("add negative category", lambda c: c.add_items(2, {"category": np.array([0, -1])}),
     zpd.FeatureError, "category"),
    ("add inf feature", lambda c: c.add_items(1, {"len": np.array([np.inf])}), zpd.FeatureError,
     "inf"),
    ("drift pressure", lambda c: c.set_drift_pressure(1.5), zpd.ConfigError, "[0, 1]"),
    ("advantage kind", lambda c: c.advantage(GOOD_IDS, GOOD_R, kind="ppo"), zpd.ConfigError,
     "AdvantageKind"),
    ("state from elsewhere", lambda c: c.load_state_dict(zpd.Curriculum(N + 1).state_dict()),
     zpd.StateError, "items"),
    ("state of another policy",
     lambda c: c.load_state_dict(zpd.Curriculum(N, policy="uniform").state_dict()),
     zpd.StateError, "policy"),
    ("not a state", lambda c: c.load_state_dict({"a": 1}), zpd.StateError, "state_dict()"),
]


@pytest.mark.parametrize(("name", "call", "error", "words"), BAD_CALLS,
                         ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_and_changes_nothing(
    trained: zpd.Curriculum, name: str, call: Callable[[zpd.Curriculum], Any],
    error: type[zpd.ZpdError], words: str,
) -> None:
    before = trained.state_dict()
    with pytest.raises(error) as info:
        call(trained)
    assert isinstance(info.value, ValueError)
    assert words in str(info.value)
    assert same_state(before, trained.state_dict())
    # ... and the curriculum still works.
    ids = trained.sample(8)
    trained.update(ids, np.ones((8, 8)))


def test_tampered_state_dicts_are_refused_whole(trained: zpd.Curriculum) -> None:
    before = trained.state_dict()
    cases = []
    sd = trained.state_dict()
    sd["header"]["version"] = 99
    cases.append((sd, "version"))
    sd = trained.state_dict()
    sd["header"]["format"] = "something.else"
    cases.append((sd, "format"))
    sd = trained.state_dict()
    sd["arrays"]["tracker.alpha"] = sd["arrays"]["tracker.alpha"][:-1]
    cases.append((sd, "tracker.alpha"))
    sd = trained.state_dict()
    sd["arrays"]["ability.ev_n"] = sd["arrays"]["ability.ev_n"] * np.nan
    cases.append((sd, "ev_n"))
    sd = trained.state_dict()
    sd["header"]["rng"] = {"bit_generator": "MT19937"}
    cases.append((sd, "rng"))
    sd = trained.state_dict()
    del sd["arrays"]["policy.frontier"]
    cases.append((sd, "frontier"))
    for bad, words in cases:
        with pytest.raises(zpd.StateError) as info:
            trained.load_state_dict(bad)
        assert words in str(info.value)
        assert same_state(before, trained.state_dict())


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"num_items": 0}, zpd.SampleSizeError, "num_items"),
        ({"num_items": -5}, zpd.SampleSizeError, "num_items"),
        ({"num_items": 10, "group_size": 0}, zpd.ConfigError, "group_size"),
        ({"num_items": 10, "seed": -1}, zpd.ConfigError, "seed"),
        ({"num_items": 10, "policy": "bandit"}, zpd.ConfigError, "PolicyName"),
        ({"num_items": 10, "policy": "oracle"}, zpd.ConfigError, "Oracle(pass_rate_fn)"),
        ({"num_items": 10, "policy": "static"}, zpd.FeatureError, "difficulty"),
        ({"num_items": 10, "features": {"len": np.zeros(9)}}, zpd.FeatureError, "length 10"),
        ({"num_items": 10, "features": {"len": np.array(["a"] * 10)}}, zpd.FeatureError,
         "numeric"),
        ({"num_items": 10, "config": {"zpd": {"pool_factor": 0}}}, zpd.ConfigError,
         "pool_factor"),
        ({"num_items": 10, "config": {"zpd": {"colour": 1}}}, zpd.ConfigError, "unknown key"),
        ({"num_items": 10, "config": {"colour": {}}}, zpd.ConfigError, "unknown config section"),
        ({"num_items": 10, "config": {"tracker": {"forgetting": 0.0}}}, zpd.ConfigError,
         "forgetting"),
    ],
)
def test_bad_construction_raises(kwargs: dict[str, Any], error: type[zpd.ZpdError],
                                 words: str) -> None:
    with pytest.raises(error) as info:
        zpd.Curriculum(**kwargs)
    assert words in str(info.value)


def test_config_dataclasses_validate_and_round_trip() -> None:
    cfg = zpd.CurriculumConfig(zpd=zpd.ZpdPolicyConfig(anchor_share=0.05))
    assert zpd.CurriculumConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(zpd.ConfigError, match="anchor_share"):
        zpd.ZpdPolicyConfig(anchor_share=0.9)
    with pytest.raises(zpd.ConfigError, match="finite"):
        zpd.TrackerConfig(interval_z=float("nan"))
    assert zpd.PolicyName.parse("MoPPS") is zpd.PolicyName.MOPPS
    assert zpd.AdvantageKind.parse("dr-grpo") is zpd.AdvantageKind.DR_GRPO


def test_category_as_floats_must_be_whole_ids() -> None:
    import zpd
    from zpd.core.errors import FeatureError

    ok = zpd.Curriculum(num_items=4, features={"category": np.array([0.0, 1.0, 1.0, 2.0])})
    assert ok.num_items == 4  # whole ids that went through a float column are accepted
    for bad, what in (([0.0, 1.0, np.nan, 2.0], "item 2 has nan"),
                      ([0.0, 1.5, 1.0, 2.0], "item 1 has 1.5")):
        with pytest.raises(FeatureError, match=what):
            zpd.Curriculum(num_items=4, features={"category": np.array(bad)})
