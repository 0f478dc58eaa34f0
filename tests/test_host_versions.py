"""Host version checks: tested versions pass, newer ones warn, versions without the hooks fail
with the supported ranges named (read from real package metadata; numpy stands in for a host)."""

from __future__ import annotations

import warnings
from importlib.metadata import version

import pytest

from zpd.integrations import _versions
from zpd.integrations._errors import IntegrationError
from zpd.integrations._versions import HostRange, check_host


def _with(monkeypatch: pytest.MonkeyPatch, **ranges: HostRange) -> None:
    monkeypatch.setattr(_versions, "RANGES", {**_versions.RANGES, **ranges})


def test_tested_newer_and_unsupported_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    have = version("numpy")
    _with(monkeypatch,
          same=HostRange("numpy", "zpd.x", "1.0.0", have),
          newer=HostRange("numpy", "zpd.y", "1.0.0", "1.0.1"),
          old=HostRange("numpy", "zpd.z", "1.0.0", "1.0.1", below="1.1.0"),
          missing=HostRange("no-such-package-zpd", "zpd.w", "1.0", "1.0"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_host("same") == have
    with pytest.warns(RuntimeWarning, match="tested with numpy 1.0.1"):
        check_host("newer")
    with pytest.raises(IntegrationError, match=r"does not support; supported: .*zpd.y"):
        check_host("old")
    with pytest.raises(IntegrationError, match="pip install 'no-such-package-zpd==1.0'"):
        check_host("missing")


def test_the_verl_routes_name_each_other() -> None:
    text = _versions.supported("verl")
    assert "0.7.0 <= verl < 0.8.0 via zpd.integrations.verl" in text
    assert "verl >= 0.9.0 via zpd.integrations.verl_v1 (tested on 0.9.1)" in text


def test_installed_trl_is_in_the_tested_range() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_host("trl") == version("trl")
