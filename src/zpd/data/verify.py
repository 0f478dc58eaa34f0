"""Verifiers: score a completion against the reference answer with a reward in [0, 1].

What it is: the built-in ``exact`` and ``numeric`` matchers and :func:`load_verifier`, which also
resolves a user verifier given as ``"module:function"``. A verifier is any callable
``f(completion, reference)`` or ``f(completion, reference, row)`` (``row``: the dataset record, for
verifiers that need more than the reference, e.g. test cases) returning a bool or a float in
[0, 1]. What it is not: sampling (``sampling``) or aggregation into pass rates (``difficulty``).
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from zpd.data.errors import DataError

Verifier = Callable[[str, str, Mapping[str, Any]], float]

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:/\d+)?")


def exact_match(completion: str, reference: str) -> float:
    """1.0 if the completion equals the reference after stripping surrounding whitespace."""
    return 1.0 if completion.strip() == str(reference).strip() else 0.0


def parse_number(text: str) -> float | None:
    """A number written as ``-12``, ``1,234.5``, ``3e-2`` or ``3/4``; ``None`` if it is not one."""
    t = text.strip().replace(",", "")
    try:
        if "/" in t:
            return float(Fraction(t))
        return float(t)
    except (ValueError, ZeroDivisionError):
        return None


def numeric_match(completion: str, reference: str, *, rel_tol: float = 1e-6,
                  abs_tol: float = 1e-9) -> float:
    """1.0 if the last number in the completion equals the reference number (within tolerance).

    The last number is taken because reasoning traces end with their answer (GSM8K convention);
    stop strings (``DifficultyConfig.stop``) keep a model from rambling past it.
    """
    ref = parse_number(str(reference))
    if ref is None:
        raise DataError(f"the numeric verifier needs a numeric reference answer; got "
                        f"{reference!r:.60} — use --verifier exact or a custom module:function")
    found = _NUMBER.findall(completion)
    if not found:
        return 0.0
    got = parse_number(found[-1])
    if got is None:
        return 0.0
    return 1.0 if math.isclose(got, ref, rel_tol=rel_tol, abs_tol=abs_tol) else 0.0


BUILTIN: dict[str, Callable[[str, str], float]] = {"exact": exact_match, "numeric": numeric_match}


def _wants_row(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _import(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise DataError(f"verifier {spec!r} is neither 'exact', 'numeric' nor 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DataError(f"cannot import verifier module {module_name!r} ({exc}); put it on "
                        "PYTHONPATH or install it") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise DataError(f"{module_name!r} has no callable {attr!r} for the verifier")
    return fn


def load_verifier(spec: str | Callable[..., Any]) -> Verifier:
    """Resolve ``exact``, ``numeric``, ``module:function`` or a callable into a 3-argument verifier.

    The returned callable checks that every reward is a bool or a finite float in [0, 1].
    """
    fn: Callable[..., Any] = BUILTIN[spec] if isinstance(spec, str) and spec in BUILTIN else (
        _import(spec) if isinstance(spec, str) else spec)
    if not callable(fn):
        raise DataError(f"verifier must be a name, 'module:function' or a callable; got {spec!r}")
    takes_row = _wants_row(fn)
    name = spec if isinstance(spec, str) else getattr(fn, "__name__", repr(fn))

    def verify(completion: str, reference: str, row: Mapping[str, Any]) -> float:
        value = fn(completion, reference, row) if takes_row else fn(completion, reference)
        if isinstance(value, bool):
            return float(value)
        if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise DataError(f"verifier {name!r} returned {value!r}; it must return a bool or a "
                            "number in [0, 1]")
        return float(value)

    return verify
