"""`--ray`: the same scoring over Ray Data (local mode) gives the same results, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datahelpers import addition_rows, write_jsonl

from zpd.data.distance import score_distance
from zpd.data.io import read_results
from zpd.data.pipeline import RunConfig
from zpd.data.ray_backend import RayConfig


@pytest.mark.integration
@pytest.mark.slow
def test_ray_local_run_matches_the_local_run_and_resumes(tiny_model: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    rows = addition_rows(40, seed=9)
    rows[5] = {"oops": 1}
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    run = RunConfig(batch_rows=6, progress=False, on_error="skip")
    local = tmp_path / "local.jsonl"
    score_distance(data, tiny_model, local, device="cpu", run=run)
    via_ray = tmp_path / "ray.jsonl"
    try:
        cfg = RayConfig(num_workers=1, local_cpus=1, block_rows=24)
        s = score_distance(data, tiny_model, via_ray, device="cpu", run=run, ray=cfg)
        again = score_distance(data, tiny_model, via_ray, device="cpu", run=run, ray=cfg)
    finally:
        ray.shutdown()
    assert (s.scored, s.skipped) == (39, {"missing_field": 1})
    assert again.resumed_from == 40  # nothing redone
    a = list(read_results(local, include_skipped=True))
    b = list(read_results(via_ray, include_skipped=True))
    assert [r["row"] for r in a] == [r["row"] for r in b] == list(range(40))
    ok = [i for i, r in enumerate(a) if "skipped" not in r]
    np.testing.assert_allclose([a[i]["nll_prompt"] for i in ok], [b[i]["nll_prompt"] for i in ok],
                               rtol=1e-5)
