"""Competence profile: pass rate per category ("relation type") with intervals, and a plot.

What it is: :func:`competence_profile` aggregates per-item successes into one row per category —
the item-averaged pass rate with a percentile bootstrap interval over items (default; items are
the unit that varies, samples of one item are not independent evidence about the category), or
the pooled rate with a Wilson interval. :func:`profile_results` reads a ``score difficulty``
result file (categories from the file, or joined from the dataset by row); :func:`plot_profile`
draws the profile (matplotlib, Agg) and writes the PNG atomically. The seeds' point is that
competence is asymmetric across relation types; this makes the asymmetry visible and measurable.
What it is not: an online per-category ability (the core's ability model does that during RL).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np

from zpd.core.atomic import atomic_write_bytes
from zpd.data.difficulty import pass_rate_interval
from zpd.data.errors import DataError
from zpd.data.io import FieldSpec, Item, iter_items, parse_enum, read_results


class ProfileMethod(str, Enum):
    """How a category's interval is computed."""

    BOOTSTRAP = "bootstrap"
    WILSON = "wilson"


@dataclass(frozen=True)
class CategoryCompetence:
    """One category of a competence profile."""

    category: str
    items: int
    samples: float
    successes: float
    mean: float
    lower: float
    upper: float
    note: str = ""
    """Why the interval should not be read as is (empty when it can)."""


def competence_profile(categories: Sequence[Any], successes: Any, n: Any, *,
                       method: ProfileMethod | str = "bootstrap", confidence: float = 0.95,
                       n_boot: int = 2000, seed: int = 0) -> list[CategoryCompetence]:
    """Per-category competence, sorted by mean pass rate (lowest first)."""
    how = parse_enum(ProfileMethod, method, "method")
    s = np.asarray(successes, dtype=np.float64)  # (M,)
    m = np.asarray(n, dtype=np.float64)  # (M,)
    if not (len(categories) == s.size == m.size) or s.size == 0:
        raise DataError("categories, successes and n must be non-empty and of one length")
    if not 0 < confidence < 1 or n_boot < 1:
        raise DataError("need 0 < confidence < 1 and n_boot >= 1")
    labels = np.array([str(c) for c in categories])
    rng = np.random.default_rng(seed)
    out = []
    for cat in sorted(set(labels.tolist())):
        sel = labels == cat
        rates = s[sel] / m[sel]  # (items,)
        note = ""
        if how is ProfileMethod.WILSON:
            lo, hi = pass_rate_interval([s[sel].sum()], [m[sel].sum()], confidence=confidence)
            mean, lower, upper = s[sel].sum() / m[sel].sum(), lo[0], hi[0]
        else:
            boots = rates[rng.integers(0, rates.size, size=(n_boot, rates.size))].mean(axis=1)
            a = (1 - confidence) / 2
            mean, lower, upper = rates.mean(), np.quantile(boots, a), np.quantile(boots, 1 - a)
            if rates.size == 1 or np.ptp(rates) == 0:  # resampling items cannot vary the mean
                lo, hi = pass_rate_interval([s[sel].sum()], [m[sel].sum()], confidence=confidence)
                why = "one item" if rates.size == 1 else "every item has the same pass rate"
                note = (f"{why}: the bootstrap interval over items has zero width and says "
                        f"nothing; the Wilson interval over its {int(m[sel].sum())} samples is "
                        f"[{lo[0]:.3f}, {hi[0]:.3f}] (--method wilson)")
        out.append(CategoryCompetence(cat, int(sel.sum()), float(m[sel].sum()),
                                      float(s[sel].sum()), float(mean), float(lower),
                                      float(upper), note))
    return sorted(out, key=lambda c: (c.mean, c.category))


def _categories_from_data(data: str | os.PathLike[str], field: str, split: str | None
                          ) -> dict[int, Any]:
    spec = FieldSpec(required=(), category=field)
    return {it.row: it.category for it in iter_items(data, spec, on_error="skip", split=split)
            if isinstance(it, Item)}


def profile_results(results: str | os.PathLike[str], *, data: str | os.PathLike[str] | None = None,
                    category_field: str = "category", split: str | None = None,
                    method: ProfileMethod | str = "bootstrap", confidence: float = 0.95,
                    n_boot: int = 2000, seed: int = 0) -> list[CategoryCompetence]:
    """Profile a ``score difficulty`` result file; categories from it or from ``data`` by row."""
    recs = list(read_results(results))
    if not recs or "successes" not in recs[0]:
        raise DataError(f"{results} is not a non-empty difficulty result file; run "
                        "`zpd score difficulty` first")
    lookup = _categories_from_data(data, category_field, split) if data is not None else None
    cats = []
    for r in recs:
        cat = lookup.get(int(r["row"])) if lookup is not None else r.get("category")
        if cat is None:
            raise DataError(f"row {r['row']} has no category; score with --category-field or "
                            "pass the dataset (data=/--data) and its category column")
        cats.append(cat)
    return competence_profile(cats, [r["successes"] for r in recs], [r["n"] for r in recs],
                              method=method, confidence=confidence, n_boot=n_boot, seed=seed)


def profile_dicts(profile: Sequence[CategoryCompetence]) -> list[dict[str, Any]]:
    """The profile as JSON-ready dicts."""
    return [asdict(c) for c in profile]


def plot_profile(profile: Sequence[CategoryCompetence], path: str | os.PathLike[str], *,
                 title: str = "competence per category") -> None:
    """Horizontal dot-and-interval plot, lowest category at the bottom; PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not profile:
        raise DataError("the profile is empty; nothing to plot")
    y = np.arange(len(profile))
    mean = np.array([c.mean for c in profile])
    err = np.array([[c.mean - c.lower for c in profile], [c.upper - c.mean for c in profile]])
    fig, ax = plt.subplots(figsize=(6.0, 1.0 + 0.35 * len(profile)))
    ax.errorbar(mean, y, xerr=np.clip(err, 0, None), fmt="o", capsize=3)
    ax.set_yticks(y, [f"{c.category} (n={c.items})" for c in profile])
    ax.set_xlim(0, 1)
    ax.set_xlabel("pass rate")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
