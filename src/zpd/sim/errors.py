"""Exceptions of the simulation benchmark.

What it is: the one error type `zpd.sim` raises for bad input, a subclass of the core's
:class:`zpd.core.errors.ConfigError` (so of ``ValueError``). What it is not: the core's error
hierarchy; errors the core raises pass through the simulation untouched.
"""

from __future__ import annotations

from zpd.core.errors import ConfigError


class SimConfigError(ConfigError):
    """A simulation setting or argument is out of range; the message says what to change."""
