"""Pretraining of the lab's base: smoke run, pure data stream, label noise, resume, cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from zpd.core.errors import StateError
from zpd.lab import tasks
from zpd.lab.model import load_pretrained
from zpd.lab.pretrain import (
    PretrainConfig,
    PretrainConfigError,
    cached_base_dir,
    is_finished,
    load_eval,
    make_batch,
    pretrain,
)
from zpd.lab.tokenizer import CharTokenizer

MIX = (
    tasks.TaskConfig(ops=("add",), formats=("direct",), digits=(1, 2)),
    tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(2, 3), label_noise=0.5),
)
TINY = dict(mix=MIX, preset="tiny", steps=24, batch_size=16, eval_items=2,
            eval_extra_digits=1, checkpoint_every=8, warmup_steps=4, lr=3e-3)


def _weights(final: Path) -> dict[str, torch.Tensor]:
    return load_file(str(final / "model.safetensors"))


def test_smoke_writes_hf_checkpoint_eval_and_learns(tmp_path: Path) -> None:
    cfg = PretrainConfig(**TINY)
    final = pretrain(cfg, tmp_path / "b", progress=False)
    assert final == tmp_path / "b" / "final" and is_finished(tmp_path / "b")
    model, tok = load_pretrained(final)
    assert model.config.n_embd == 64 and tok.vocab_size == model.config.vocab_size
    ev = load_eval(tmp_path / "b")
    # every (op, fmt, n) cell of the mix, one digit beyond each block's range
    assert set(ev["cells"]) == {"add/direct/1", "add/direct/2", "add/direct/3",
                                "rev/direct/2", "rev/direct/3", "rev/direct/4"}
    for cell in ev["cells"].values():
        assert 0.0 <= cell["greedy"] <= 1.0 and 0.0 <= cell["sampled"] <= 1.0
    losses = [h["loss"] for h in ev["history"] if "loss" in h]
    assert len(losses) == 3 and losses[-1] < losses[0] - 0.3  # ln(33) ~ 3.5 at init
    assert not (tmp_path / "b" / "state").exists()  # resume state removed once finished


def test_batches_are_a_pure_function_of_step_and_train_on_completions_only() -> None:
    cfg = PretrainConfig(**TINY)
    tok = CharTokenizer()
    a_idx, a_tgt = make_batch(cfg, 5, tok)
    b_idx, b_tgt = make_batch(cfg, 5, tok)
    c_idx, _ = make_batch(cfg, 6, tok)
    assert torch.equal(a_idx, b_idx) and torch.equal(a_tgt, b_tgt)
    assert not torch.equal(a_idx, c_idx)
    assert a_idx.shape == a_tgt.shape and a_idx.shape[0] == 16
    for row_idx, row_tgt in zip(a_idx.tolist(), a_tgt.tolist()):
        first = next(i for i, t in enumerate(row_tgt) if t != -1)
        prompt = tok.decode(row_idx[: first + 1])
        completion = tok.decode([t for t in row_tgt if t != -1])
        assert prompt.endswith("d=") and completion[0] == "d" and completion.endswith("$")
        assert all(t == -1 for t in row_tgt[:first])


@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_label_noise_corrupts_that_share_of_answers(noise: float) -> None:
    block = tasks.TaskConfig(ops=("add",), formats=("direct",), digits=(2, 3), label_noise=0.5)
    cfg = PretrainConfig(**{**TINY, "mix": (block,), "label_noise": noise, "batch_size": 64})
    tok = CharTokenizer()
    idx, tgt = make_batch(cfg, 0, tok)
    right = []
    for row_idx, row_tgt in zip(idx.tolist(), tgt.tolist()):
        first = next(i for i, t in enumerate(row_tgt) if t != -1)
        prompt = tok.decode(row_idx[: first + 1])
        a, b = prompt[1:-2].split("+")
        item = tasks.Item(prompt, tasks.add_lsb(a, b)[0], "add", "direct", len(a), 0, 0, 1, (a, b))
        right.append(tasks.verify(item, tok.decode([t for t in row_tgt if t != -1])))
    assert sum(right) == (64 if noise == 0.0 else 0)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    cfg = PretrainConfig(**TINY)
    straight = pretrain(cfg, tmp_path / "a", progress=False)

    def interrupt(step: int, loss: float) -> None:
        if step == 13:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, tmp_path / "b", progress=False, on_step=interrupt)
    latest = json.loads((tmp_path / "b" / "state" / "latest.json").read_text())
    assert latest["step"] == 8 and not is_finished(tmp_path / "b")
    seen: list[int] = []
    resumed = pretrain(cfg, tmp_path / "b", progress=False, on_step=lambda s, _: seen.append(s))
    assert seen == list(range(9, 25))
    wa, wb = _weights(straight), _weights(resumed)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6)


def test_cache_is_reused_and_foreign_dirs_are_refused(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZPD_CACHE_DIR", str(tmp_path / "cache"))
    cfg = PretrainConfig(**{**TINY, "steps": 6, "checkpoint_every": 100})
    first = pretrain(cfg, progress=False)
    assert first == cached_base_dir(cfg) / "final"
    assert first.is_relative_to(tmp_path / "cache" / "bases")
    calls: list[int] = []
    again = pretrain(cfg, progress=False, on_step=lambda s, _: calls.append(s))
    assert again == first and calls == []  # reused, not retrained
    other = PretrainConfig(**{**TINY, "steps": 7})
    assert cached_base_dir(other) != cached_base_dir(cfg)
    before = (first.parent / "pretrain_config.json").read_text()
    with pytest.raises(StateError, match="another config"):
        pretrain(other, first.parent, progress=False)
    assert (first.parent / "pretrain_config.json").read_text() == before


@pytest.mark.parametrize(
    ("override", "field"),
    [({"preset": "huge"}, "preset"), ({"steps": 0}, "steps"), ({"label_noise": 1.5}, "label_noise"),
     ({"mix": ()}, "mix"), ({"lr": 0.0}, "lr"), ({"batch_size": 2.5}, "batch_size")],
)
def test_bad_settings_raise_a_clear_value_error(override: dict[str, object], field: str) -> None:
    with pytest.raises(PretrainConfigError, match=field) as exc:
        PretrainConfig(**{**TINY, **override})
    assert isinstance(exc.value, ValueError)


def test_config_round_trips_through_json() -> None:
    cfg = PretrainConfig(**TINY)
    back = PretrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.fingerprint() == cfg.fingerprint()
    with pytest.raises(PretrainConfigError, match="unknown"):
        PretrainConfig.from_dict({**cfg.to_dict(), "stepz": 3})


