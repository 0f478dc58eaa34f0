"""Exceptions raised by the zpd core.

Every bad input raises a subclass of :class:`ZpdError`, itself a :class:`ValueError`, with a
message that says what is wrong and what to do about it. This module holds only the exception
types; the checks live next to the code that needs them.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FeatureError",
    "IdError",
    "RewardError",
    "SampleSizeError",
    "StateError",
    "ZpdError",
]


class ZpdError(ValueError):
    """Base class of every error zpd raises for bad input."""


class ConfigError(ZpdError):
    """A configuration value is unknown, of the wrong type, or out of range."""


class IdError(ZpdError):
    """Item ids are not integers, negative, out of range, or of the wrong shape."""


class RewardError(ZpdError):
    """Rewards are not finite, outside [0, 1], or of the wrong shape."""


class FeatureError(ZpdError):
    """A feature array has the wrong length, dtype, or values."""


class SampleSizeError(ZpdError):
    """``sample(n)`` asked for a number of items that cannot be served."""


class StateError(ZpdError):
    """A state dict or state file is foreign, of another version, truncated, or inconsistent."""
