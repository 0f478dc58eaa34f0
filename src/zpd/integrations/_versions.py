"""Which host versions each shim was tested against, and what happens outside that range.

What it is: :func:`check_host` reads a host's installed version from its package metadata (no
import) and returns it when the shim was tested on it, warns when the version is newer than the
tested one (the shims use hooks a release may change), and raises :class:`IntegrationError`
naming the supported versions and the shim to use when the hooks the shim needs do not exist
there. What it is not: a dependency resolver; pyproject's extras bound what pip installs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from zpd.integrations._errors import IntegrationError


@dataclass(frozen=True)
class HostRange:
    """The versions of one host package one shim supports."""

    package: str
    module: str
    min_version: str
    """Oldest supported version (inclusive)."""
    tested: str
    """The version the shim's tests run on; newer ones warn."""
    below: str | None = None
    """First version that no longer has the hooks (exclusive bound), or None."""


RANGES: dict[str, HostRange] = {
    "verl-0.7": HostRange("verl", "zpd.integrations.verl", "0.7.0", "0.7.1", below="0.8.0"),
    "verl-0.9": HostRange("verl", "zpd.integrations.verl_v1", "0.9.0", "0.9.1"),
    "trl": HostRange("trl", "zpd.integrations.trl", "1.0.0", "1.16.0"),
}


def _key(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(c for c in part.split("dev")[0].split("rc")[0] if c.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out + [0] * (3 - len(out)))


def supported(package: str) -> str:
    """Human-readable supported ranges of ``package`` over every shim."""
    return "; ".join(
        f"{r.min_version} <= {package} < {r.below} via {r.module}" if r.below
        else f"{package} >= {r.min_version} via {r.module} (tested on {r.tested})"
        for r in RANGES.values() if r.package == package)


def check_host(shim: str) -> str:
    """The installed version of ``shim``'s host (see the module docstring)."""
    r = RANGES[shim]
    try:
        have = version(r.package)
    except PackageNotFoundError:
        raise IntegrationError(f"{r.module} needs {r.package}: pip install "
                               f"'{r.package}=={r.tested}'") from None
    if _key(have) < _key(r.min_version) or (r.below and _key(have) >= _key(r.below)):
        raise IntegrationError(f"{r.package} {have} is installed, which {r.module} does not "
                               f"support; supported: {supported(r.package)}")
    if _key(have) > _key(r.tested):
        warnings.warn(f"{r.module} was tested with {r.package} {r.tested}; {have} is installed. "
                      "It uses hooks a newer release may change: check its curriculum/* "
                      "metrics on the first steps", RuntimeWarning, stacklevel=3)
    return have
