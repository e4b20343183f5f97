"""The claim checker that lessons use for every number their prose states."""

from __future__ import annotations

import pytest

from course_utils import claims, env


def test_value_inside_band_is_returned(capsys):
    assert claims.check("gap", 0.25, env.PROFILES["offline"], offline=(0.1, 0.5)) == 0.25
    assert "claim ok: gap" in capsys.readouterr().out


def test_value_outside_band_fails_with_the_claim_named():
    with pytest.raises(AssertionError, match="claim failed: speed-up.*offline"):
        claims.check("speed-up", 3.0, "offline", offline=(10, 1000))


def test_nan_never_passes():
    with pytest.raises(AssertionError):
        claims.check("accuracy", float("nan"), "cpu", cpu=(0.0, 1.0))


def test_default_band_and_missing_band():
    assert claims.check("x", 1.0, "full", default=(0, 2)) == 1.0
    with pytest.raises(ValueError, match="no band for profile 'full'"):
        claims.check("x", 1.0, "full", offline=(0, 2))


def test_inverted_band_is_rejected():
    with pytest.raises(ValueError, match="low > high"):
        claims.check("x", 1.0, "cpu", cpu=(2, 1))
