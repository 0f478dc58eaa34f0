"""The one reward scaling every shim uses (``zpd.integrations._rewards``)."""

from __future__ import annotations

import numpy as np

from zpd.integrations._rewards import to_unit


def test_to_unit_maps_the_range_and_flags_only_what_falls_outside_it() -> None:
    x, outside = to_unit([-1.0, 0.0, 1.0, 1.0 + 1e-7, 1.1, -1.2, np.inf, np.nan], (-1.0, 1.0))
    assert x[:3].tolist() == [0.0, 0.5, 1.0]
    # float error past the bound is clipped, not flagged; a real overshoot and inf are flagged
    assert x[3] == 1.0 and outside.tolist() == [False, False, False, False, True, True, True,
                                                False]
    assert np.isnan(x[7])  # unscored stays unscored: each shim decides what it means
    assert x[4] == 1.0 and x[5] == 0.0  # clipped (the shims refuse these before using them)
