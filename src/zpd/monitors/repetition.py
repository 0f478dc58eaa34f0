"""Answer repetition across items and answers that echo the prompt (monitor family ``repetition``).

What it is: a stateless shortcut detector. Training on near-impossible prompts rewards lucky
guesses; the policy then learns to repeat one answer across unrelated items or to copy a span
of the input (an operand) instead of computing — Sample Difficulty in RLVR, arXiv 2605.28388.
Two tests, both documented in docs/monitors.md:

* **repetition beyond chance.** Each distinct item contributes its modal final answer. For the
  most common answer a* shared by k of n items, the null is that each item gives a* independently
  with probability p0: with reference answers (``batch.targets``), p0 = (t + 0.5) / (n + 1) where
  t items have a* as their reference answer (a correct model repeats an answer exactly as often
  as the references do); without them, p0 = 1 / max(distinct answers, ``answer_space``). The
  p-value is the exact binomial tail P(K >= k), Bonferroni-corrected for the number of distinct
  answers (a* was picked as the largest). Alert when p < ``alpha`` and k/n >= ``min_share``.
* **echo.** A rollout echoes when its answer (at least ``echo_min_chars`` long) occurs in its
  prompt as a whole token: not inside a longer run of digits (a numeric answer) or of letters
  (a word), so ``74521`` echoes ``R>74521d=`` and ``12`` does not echo ``123+456``. With
  reference answers the test looks only at rollouts whose reference does *not* echo its prompt
  (there an echo is wrong: a palindrome's reversal or ``x + 0`` is no shortcut); alert when the
  echo rate among them is >= ``echo_alert`` and the binomial tail against a null of 0.1 % is
  below ``alpha``. Without references every rollout is checked against the same null.

What it is not: an answer extractor (answers come in the batch) nor a judge of correctness.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from zpd.monitors.base import (
    Alert,
    MonitorContext,
    MonitorResult,
    Severity,
    check_fraction,
    check_positive_int,
)
from zpd.monitors.batch import RolloutBatch
from zpd.monitors.stats import binom_sf


@dataclass(frozen=True)
class RepetitionConfig:
    """Settings of the ``repetition`` monitor's two tests."""

    alpha: float = 0.01
    """Significance level of both tests (after the Bonferroni correction)."""
    min_items: int = 10
    """Test repetition only when at least this many distinct items have an answer."""
    min_share: float = 0.1
    """Effect-size floor: alert only when the top answer is the modal answer of >= this share."""
    answer_space: int = 10
    """Smallest answer-space size assumed by the uniform null (used when targets are absent)."""
    echo_alert: float = 0.2
    """Alert when at least this share of the rollouts whose reference does not echo its prompt
    (all rollouts, without references) echo their prompt."""
    echo_min_chars: int = 2
    """Answers shorter than this are not checked for echo (one digit matches by chance)."""

    def __post_init__(self) -> None:
        check_fraction("RepetitionConfig.alpha", self.alpha, open_low=True)
        check_fraction("RepetitionConfig.min_share", self.min_share)
        check_fraction("RepetitionConfig.echo_alert", self.echo_alert, open_low=True)
        check_positive_int("RepetitionConfig.min_items", self.min_items, 2)
        check_positive_int("RepetitionConfig.answer_space", self.answer_space, 2)
        check_positive_int("RepetitionConfig.echo_min_chars", self.echo_min_chars)


class RepetitionMonitor:
    """Same final answer across different items beyond chance; answers echoing an input span.

    Metrics: ``top_answer_share``, ``top_answer_null_share``, ``top_answer_pvalue``,
    ``distinct_answer_ratio``, ``answered_items``, ``no_answer_rate`` and, with prompts,
    ``echo_rate`` (all rollouts), ``echo_null_rate`` (share of references that echo),
    ``wrong_echo_rate`` (rollouts whose reference does not echo; the tested rate) and
    ``echo_pvalue``. Shortcuts from overly hard samples:
    arXiv 2605.28388.
    """

    name = "repetition"

    def __init__(self, config: RepetitionConfig | None = None) -> None:
        self.config = config or RepetitionConfig()

    def __call__(self, batch: RolloutBatch, context: MonitorContext) -> MonitorResult:
        metrics = {"no_answer_rate": sum(a is None for a in batch.answers) / batch.num_rollouts}
        alerts: list[Alert] = []
        self._repetition(batch, context.step, metrics, alerts)
        if batch.prompts is not None:
            self._echo(batch, context.step, metrics, alerts)
        return MonitorResult(metrics, alerts)

    def _repetition(self, batch: RolloutBatch, step: int, metrics: dict[str, float],
                    alerts: list[Alert]) -> None:
        modal, targets = _modal_answers(batch)
        n = len(modal)
        metrics["answered_items"] = float(n)
        if n == 0:
            return
        counts = Counter(modal.values())
        top, k = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        m = len(counts)
        if batch.targets is not None:
            t = sum(targets.get(i) == top for i in modal)
            p0 = (t + 0.5) / (n + 1)
        else:
            p0 = 1.0 / max(m, self.config.answer_space)
        pvalue = min(1.0, binom_sf(k, n, p0) * m)
        metrics.update(top_answer_share=k / n, top_answer_null_share=p0,
                       top_answer_pvalue=pvalue, distinct_answer_ratio=m / n)
        cfg = self.config
        if n >= cfg.min_items and k / n >= cfg.min_share and pvalue < cfg.alpha:
            alerts.append(Alert(
                self.name, Severity.WARNING,
                f"answer {_short(top)!r} is the modal answer of {k}/{n} distinct items "
                f"({k / n:.0%}; chance explains {p0:.1%}, p={pvalue:.1e}): a repeated-answer "
                "shortcut. Check for near-impossible items in the batch (quarantine them) and "
                "the accidental-success monitor.",
                step, k / n, cfg.min_share, "top_answer_share",
            ))

    def _echo(self, batch: RolloutBatch, step: int, metrics: dict[str, float],
              alerts: list[Alert]) -> None:
        assert batch.prompts is not None
        cfg = self.config
        targets = batch.targets if batch.targets is not None else [None] * batch.num_rollouts
        checked = echoed = tested = wrong = 0
        refs = ref_echo = 0
        for ans, prompt, t in zip(batch.answers, batch.prompts, targets):
            ref_echoes = False
            if t is not None and len(t.strip()) >= cfg.echo_min_chars:
                ref_echoes = _echoes(t, prompt)
                refs += 1
                ref_echo += ref_echoes
            if ans is None or len(ans.strip()) < cfg.echo_min_chars:
                continue
            hit = _echoes(ans, prompt)
            checked += 1
            echoed += hit
            if not ref_echoes:  # without references every rollout is tested
                tested += 1
                wrong += hit
        if checked == 0:
            return
        null = ref_echo / refs if refs else 0.0
        rate = wrong / tested if tested else 0.0
        pvalue = binom_sf(wrong, tested, 1e-3) if tested else 1.0
        metrics.update(echo_rate=echoed / checked, echo_null_rate=null, wrong_echo_rate=rate,
                       echo_pvalue=pvalue)
        if tested and rate >= cfg.echo_alert and pvalue < cfg.alpha:
            alerts.append(Alert(
                self.name, Severity.WARNING,
                f"{rate:.0%} of answers copy a span of their prompt where the reference does not "
                f"(p={pvalue:.1e}): the policy echoes its input instead of computing. Look at "
                "hard items where the echo is sometimes right (rewarded by luck).",
                step, rate, cfg.echo_alert, "wrong_echo_rate",
            ))


def _modal_answers(batch: RolloutBatch) -> tuple[dict[int, str], dict[int, str | None]]:
    """Modal non-None answer of each item (ties: smallest string), and each item's target."""
    per_item: dict[int, Counter[str]] = defaultdict(Counter)
    targets: dict[int, str | None] = {}
    for row, (item, ans) in enumerate(zip(batch.item_ids.tolist(), batch.answers)):
        if ans is not None:
            per_item[item][ans.strip()] += 1
        if batch.targets is not None:
            t = batch.targets[row]
            targets.setdefault(item, None if t is None else t.strip())
    modal = {i: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for i, c in per_item.items()}
    return modal, targets


def _echoes(answer: str, prompt: str) -> bool:
    """True when ``answer`` occurs in ``prompt`` not inside a longer run of digits (when it
    starts/ends with a digit) or of letters (when it starts/ends with a letter)."""
    a = answer.strip()
    if not a:
        return False
    pattern = _edge(a[0], before=True) + re.escape(a) + _edge(a[-1], before=False)
    return re.search(pattern, prompt) is not None


def _edge(char: str, before: bool) -> str:
    cls = "0-9" if char.isdigit() else "A-Za-z" if char.isalpha() else ""
    if not cls:
        return ""
    return f"(?<![{cls}])" if before else f"(?![{cls}])"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

