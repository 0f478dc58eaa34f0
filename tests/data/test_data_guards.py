"""Guards of the data commands: a Parquet-named output, --ray without Ray, a resume against other
settings naming the nested key that changed, and --threads on every compute command."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from datahelpers import addition_rows, write_jsonl

from zpd.cli.main import main
from zpd.data.distance import DistanceConfig, score_distance
from zpd.data.errors import DataError, ResumeError
from zpd.data.pipeline import RunConfig
from zpd.data.ray_backend import RayConfig, executor_for

QUIET = RunConfig(progress=False)


def test_parquet_named_output_is_refused_before_anything_is_written(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(4))
    out = tmp_path / "x.parquet"
    with pytest.raises(DataError, match=r"\.parquet.*JSON lines.*\.jsonl"):
        score_distance(data, tiny_model, out, device="cpu", run=QUIET)
    assert not out.exists() and not list(tmp_path.glob("x.parquet*"))
    assert main(["score", "distance", str(data), "--model", str(tiny_model), "--out", str(out),
                 "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_ray_without_ray_names_the_extra_and_leaves_no_output(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(DataError, match=r"pip install 'zpd\[ray\]'"):
        executor_for(RayConfig())
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(4))
    with pytest.raises(DataError, match="zpd\\[ray\\]"):
        score_distance(data, tiny_model, tmp_path / "o.jsonl", device="cpu", run=QUIET,
                       ray=RayConfig())
    assert not (tmp_path / "o.jsonl").exists()


def test_resume_against_other_settings_names_the_nested_key(tiny_model: Path,
                                                            tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(6))
    out = tmp_path / "o.jsonl"
    score_distance(data, tiny_model, out, device="cpu", run=QUIET)
    with pytest.raises(ResumeError, match=r"differ in: config\.batch_tokens\)"):
        score_distance(data, tiny_model, out, device="cpu", run=QUIET,
                       config=DistanceConfig(batch_tokens=99))
    with pytest.raises(ResumeError, match=r"differ in: bos\)"):  # the BOS convention too
        score_distance(data, tiny_model, out, device="cpu", run=QUIET, bos="always")


def test_threads_flag_sets_torch_threads_and_refuses_nonsense(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = torch.get_num_threads()
    data = write_jsonl(tmp_path / "d.jsonl", addition_rows(4))
    try:
        assert main(["score", "distance", str(data), "--model", str(tiny_model), "--out",
                     str(tmp_path / "o.jsonl"), "--device", "cpu", "--quiet",
                     "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
        capsys.readouterr()
        for argv in (["score", "distance", str(data), "--model", str(tiny_model), "--out",
                      str(tmp_path / "p.jsonl"), "--threads", "0"],
                     ["lab", "pretrain", "--threads", "0", "--out", str(tmp_path / "b")]):
            assert main(argv) == 2
            assert "--threads 0" in capsys.readouterr().err
        assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "b").exists()
    finally:
        torch.set_num_threads(before)


def test_lab_checkpoints_are_flagged_for_completion_only_loss(tiny_model: Path) -> None:
    from zpd.data.model_io import completion_only_note
    from zpd.lab.experiments import demo_config
    from zpd.lab.pretrain import SHIPPED

    lab = SHIPPED / demo_config().pretrain.fingerprint() / "final"
    note = completion_only_note(lab)
    assert note is not None and "r-IFD" in note
    assert completion_only_note(tiny_model) is None  # a plain GPT-2: nothing known
