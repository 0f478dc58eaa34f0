"""Do the NLL-based data tools find bad rows on the lab's own model? (issue 13's floor)

**Corrupted rows.** A pool of string reversals the shipped lab base learned (2-6 digits), 20 % of
them with one answer digit corrupted. EL2N (arXiv 2107.07075) and the answer NLL given the prompt rank every row; the
floor is that >= 90 % of the corrupted rows land in the top 20 % of each ranking. The same run
with a BOS forced in front (what every scorer did before it followed the tokenizer's own
convention) is printed beside it as the baseline.

**Forgetting** (Toneva et al., arXiv 1812.05159) needs a run that trained on the scored rows:
the shipped base is fine-tuned on the same pool (corrupted answers included; the lab's
completion-only loss, AdamW at a constant 1e-4, batch 30, 6 shuffled epochs, a checkpoint after
each), over pool seeds 0-2, and ``ForgettingScorer`` ranks the rows over the 6 checkpoints
(floor: >= 90 % of the corrupted rows in the top 20 %; a forced BOS beside it).

**Refinements** (Selective Reflection-Tuning's student-side filter, arXiv 2402.10110). 120
reversal pairs of 3-5 digits (three seeds of 40, each reported), each given four refinements
(and three diagnostics, below):
*harder prompt* (the same task one digit longer, with its right answer: harder for the student,
still its distribution; judged by the prompt test, as the paper judges reflected instructions by
IFD), *fixed answer*
(the original answer had one wrong digit, the refinement is the right one), *worse answer* (the
negative control: a right answer refined into one with a wrong digit, which must be rejected) and
*out-of-distribution* (the same request and answer in English words, which the lab model never
saw). Diagnostics added after the first results are printed as info, without a floor:
*much harder prompt* (three digits longer: does the prompt test follow difficulty when the step is
larger than its noise?) and *harder, wrong answer* (one digit longer, one wrong answer digit: a
difficulty test cannot refuse it, and the benchmark shows that); a third, *easier prompt* (one
digit shorter), is the prompt test's negative control. Refined prompts and answers are
judged by the tests the filter picks for the lab model (``answer-nll`` for both: it was trained on
completions only, so the answer's NLL with no prompt, IFD's denominator, and r-IFD are out of
its distribution); the paper's IFD and r-IFD forced on it, and a BOS forced in front, are printed
beside it. Floors: >= 60 % of the in-reach refinements accepted (each kind reported), <= 5 % of
the out-of-distribution ones. The settings
and predictions were written into docs/data.md before the first run.

    python benchmarks/data_quality.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from zpd.data.distance import DistanceConfig, DistanceScorer
from zpd.data.model_io import load_model
from zpd.data.selection import EL2NScorer
from zpd.lab import tasks
from zpd.lab.experiments import demo_config
from zpd.lab.pretrain import SHIPPED


def pool(n: int = 300, share: float = 0.2, seed: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    items = tasks.make_items(tasks.TaskConfig(ops=("rev",), formats=("direct",), digits=(2, 6),
                                              n_items=n), rng, unique=True)
    bad = np.zeros(n, dtype=bool)
    bad[rng.choice(n, size=int(share * n), replace=False)] = True
    answers = [tasks.render_completion(it, answer=tasks.corrupt_answer(it.answer, rng)
                                       if b else None) for it, b in zip(items, bad)]
    return [it.prompt for it in items], answers, bad


def found(score: np.ndarray, bad: np.ndarray) -> float:
    """Share of the bad rows among the top ``bad.sum()`` scores (highest = most suspect)."""
    top = np.argsort(-score, kind="stable")[: int(bad.sum())]
    return float(bad[top].mean())


KINDS = ("harder prompt", "fixed answer", "worse answer", "English", "much harder",
         "harder wrong", "easier")


def refinement_pairs(n: int = 40, seed: int = 1
                     ) -> dict[str, tuple[list[str], list[str], list[str | None], list[str | None]]]:
    """Per kind of refinement (see :data:`KINDS`): (prompts, answers, refined prompts, refined
    answers), ``None`` = unchanged. The originals are reversals of 3-5 digits; the diagnostics
    draw from RNG streams of their own, so the first four kinds' pairs stay as they were run."""
    rng = np.random.default_rng(seed)
    extra = np.random.default_rng([seed, 3])
    miss = np.random.default_rng([seed, 4])
    words = "zero one two three four five six seven eight nine".split()
    pairs: dict[str, list[tuple[str, str, str | None, str | None]]] = {k: [] for k in KINDS}
    for _ in range(n):
        d = int(rng.integers(3, 6))
        x = tasks.random_digits(d, rng, palindrome=False)
        it = tasks.reversal_item(x)
        prompt, answer = it.prompt, tasks.render_completion(it)
        longer = tasks.reversal_item(x + str(int(rng.integers(0, 10))))
        pairs["harder prompt"].append((prompt, answer, longer.prompt,
                                       tasks.render_completion(longer)))
        pairs["English"].append((prompt, answer,
                                 "please reverse the digits " + " ".join(words[int(c)] for c in x),
                                 "the reversed digits are " + " ".join(words[int(c)]
                                                                       for c in x[::-1])))
        wrong = tasks.render_completion(it, answer=tasks.corrupt_answer(it.answer, rng))
        pairs["fixed answer"].append((prompt, wrong, None, answer))
        pairs["worse answer"].append((prompt, answer, None, wrong))
        much = tasks.reversal_item(x + "".join(str(int(c)) for c in extra.integers(0, 10, size=3)))
        pairs["much harder"].append((prompt, answer, much.prompt, tasks.render_completion(much)))
        pairs["harder wrong"].append((prompt, answer, longer.prompt, tasks.render_completion(
            longer, answer=tasks.corrupt_answer(longer.answer, miss))))
        shorter = tasks.reversal_item(x[:-1])
        pairs["easier"].append((prompt, answer, shorter.prompt, tasks.render_completion(shorter)))
    return {k: tuple(map(list, zip(*rows))) for k, rows in pairs.items()}  # type: ignore[misc]


def finetune_checkpoints(base: object, prompts: list[str], answers: list[str], out: Path,
                         seed: int, epochs: int = 6, batch: int = 30, lr: float = 1e-4
                         ) -> list[Path]:
    """Fine-tune the lab base on (prompt, answer) rows with its completion-only loss; one Hugging
    Face checkpoint directory per epoch."""
    import torch

    from zpd.lab.model import load_pretrained, save_pretrained
    from zpd.lab.pretrain import pack_completions

    torch.manual_seed(seed)
    model, tok = load_pretrained(base)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    encoded = [(tok.encode(p), tok.encode(a)) for p, a in zip(prompts, answers)]
    seqs = [(p + a, len(p)) for p, a in encoded]
    rng = np.random.default_rng(seed)
    dirs = []
    for epoch in range(epochs):
        order = rng.permutation(len(seqs))
        for start in range(0, len(order), batch):
            idx, tgt = pack_completions([seqs[i] for i in order[start:start + batch]],
                                        tok.pad_id)  # (B, L), (B, L)
            _, loss = model(idx, tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        dirs.append(save_pretrained(model, tok, out / f"epoch{epoch + 1}"))
    return dirs


def forgetting(base: object) -> bool:
    """Forgetting over fine-tuning checkpoints, 3 pool seeds; prints a table, returns the floor."""
    import tempfile

    from zpd.data.selection import ForgettingScorer

    print(f"\n{'seed':<6}{'bos':<8}{'forgetting finds':>18}{'corrupted memorised':>21}")
    finds = []
    for seed in (0, 1, 2):
        prompts, answers, bad = pool(seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            dirs = finetune_checkpoints(base, prompts, answers, Path(tmp), seed)
            for bos in ("auto", "always"):
                scorer = ForgettingScorer([load_model(d, device="cpu", bos=bos) for d in dirs])
                learned = scorer.learned(prompts, answers)  # (N, 6)
                score = scorer.score(prompts, answers)
                f = found(score, bad)
                if bos == "auto":
                    finds.append(f)
                print(f"{seed:<6}{bos:<8}{f:>18.2f}{float(learned[bad, -1].mean()):>21.2f}")
    mean = float(np.mean(finds))
    passed = mean >= 0.9 and min(finds) >= 0.9
    print(f"{'PASS' if passed else 'FAIL'}  forgetting puts {mean:.0%} of the corrupted rows in its "
          f"top 20 % over 3 seeds (range {min(finds):.0%}-{max(finds):.0%}; floor >= 90 %)")
    return passed


def refinements(base: object, bos: str, seed: int, tests: str = "auto"
                ) -> tuple[dict[str, float], str]:
    """Share of each kind of refinement accepted, and the tests that judged prompts / answers
    (``tests``: auto, or paper = ifd / rifd forced)."""
    from zpd.data.refinements import RefinementConfig, RefinementFilter

    filt = RefinementFilter(load_model(base, device="cpu", bos=bos),
                            RefinementConfig(prompt_test="ifd", response_test="rifd")  # type: ignore[arg-type]
                            if tests == "paper" else RefinementConfig())
    runs = {k: filt.filter(*four) for k, four in refinement_pairs(seed=seed).items()}
    return ({k: float(np.mean([d == "refined" for d in r["decision"]])) for k, r in runs.items()},
            f"{filt.prompt_test.value}/{filt.response_test.value}")


def main() -> int:
    base = SHIPPED / demo_config().pretrain.fingerprint() / "final"
    prompts, answers, bad = pool()
    ok = True
    print(f"{int(bad.sum())} of {bad.size} rows corrupted (one answer digit), lab base {base.name}")
    print(f"{'bos':<8}{'EL2N finds':>12}{'NLL(y|x) finds':>16}{'NLL(y|x) clean':>16}")
    for bos in ("auto", "always"):
        lm = load_model(base, device="cpu", bos=bos)
        el2n = EL2NScorer([lm]).score(prompts, answers)
        nll = DistanceScorer(lm, DistanceConfig(reverse=False)).score(prompts, answers)[
            "nll_answer_given_prompt"]
        fe, fn = found(el2n, bad), found(nll, bad)
        print(f"{bos:<8}{fe:>12.2f}{fn:>16.2f}{float(np.mean(nll[~bad])):>16.3f}")
        if bos == "auto":
            for name, value in (("EL2N", fe), ("answer NLL", fn)):
                passed = value >= 0.9
                ok &= passed
                print(f"{'PASS' if passed else 'FAIL'}  {name} puts {value:.0%} of the corrupted "
                      "rows in its top 20 % (floor >= 90 %)")
    ok &= forgetting(base)
    print(f"\n{'bos':<8}{'prompt/answer test':<23}{'seed':>6}" + "".join(f"{k:>15}" for k in KINDS)
          + "  (share accepted)")
    seeds = (1, 2, 3)
    mean_spread = None  # of the default filter, which the floors judge
    for bos, test in (("auto", "auto"), ("auto", "paper"), ("always", "auto")):
        per_seed = [refinements(base, bos, seed, test) for seed in seeds]
        for seed, (acc, used) in zip(seeds, per_seed):
            print(f"{bos:<8}{used:<23}{seed:>6}" + "".join(f"{acc[k]:>15.2f}" for k in KINDS))
        mean = {k: float(np.mean([a[k] for a, _ in per_seed])) for k in KINDS}
        spread = {k: (min(a[k] for a, _ in per_seed), max(a[k] for a, _ in per_seed))
                  for k in KINDS}
        print(f"{bos:<8}{per_seed[0][1]:<23}{'mean':>6}" + "".join(f"{mean[k]:>15.2f}" for k in KINDS))
        if (bos, test) == ("auto", "auto"):
            mean_spread = (mean, spread)
    assert mean_spread is not None
    mean, spread = mean_spread
    for kind, passed, floor in (("harder prompt", mean["harder prompt"] >= 0.6, ">= 60 %"),
                                ("fixed answer", mean["fixed answer"] >= 0.6, ">= 60 %"),
                                ("English", mean["English"] <= 0.05, "<= 5 %")):
        ok &= passed
        lo, hi = spread[kind]
        print(f"{'PASS' if passed else 'FAIL'}  refinement filter accepts {mean[kind]:.0%} of "
              f"{kind} refinements over 3 seeds (range {lo:.0%}-{hi:.0%}; floor {floor})")
    print(f"info  the negative control (worse answer) is accepted {mean['worse answer']:.0%}")
    for kind, what in (("much harder", "a prompt three digits longer (diagnostic, no floor)"),
                       ("harder wrong", "a prompt one digit longer with a wrong answer (no "
                                        "difficulty test can refuse it)"),
                       ("easier", "a prompt one digit shorter (negative control, should be ~0)")):
        lo, hi = spread[kind]
        print(f"info  {what} is accepted {mean[kind]:.0%} (range {lo:.0%}-{hi:.0%})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
