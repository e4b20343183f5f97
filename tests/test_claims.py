"""The claim checker that lessons use for every number their prose states.

Two modes: strict (CI, ``COURSE_STRICT=1``) fails the cell; a student's run prints a note and
goes on.
"""

from __future__ import annotations

import math

import pytest

from course_utils import claims, env


@pytest.fixture
def strict(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT", "1")


@pytest.fixture
def student(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT", raising=False)


def test_value_inside_band_is_returned(capsys, student):
    assert claims.check("gap", 0.25, env.PROFILES["offline"], offline=(0.1, 0.5)) == 0.25
    assert "claim ok: gap: 0.25 (expected between 0.1 and 0.5, offline)" in capsys.readouterr().out


def test_value_outside_band_fails_with_the_claim_named_in_strict_mode(strict):
    with pytest.raises(AssertionError, match="claim failed: speed-up.*offline"):
        claims.check("speed-up", 3.0, "offline", offline=(10, 1000))


@pytest.mark.parametrize("setting", ["1", "true", "yes"])
def test_strict_setting(monkeypatch, setting):
    monkeypatch.setenv("COURSE_STRICT", setting)
    assert claims.is_strict()
    monkeypatch.setenv("COURSE_STRICT", "0")
    assert not claims.is_strict()
    monkeypatch.delenv("COURSE_STRICT")
    assert not claims.is_strict()


def test_nan_never_passes_in_strict_mode(strict):
    with pytest.raises(AssertionError):
        claims.check("accuracy", float("nan"), "cpu", cpu=(0.0, 1.0))


def test_student_run_gets_a_note_and_goes_on(capsys, student):
    """Outside the band a student sees the measurement, the expectation and why; no exception."""
    value = claims.check("MobileNetV2 speed-up over ResNet50 (x)", 1.2, "cpu",
                         cpu=(1.5, 1e6))
    assert value == 1.2
    out = capsys.readouterr().out
    assert "NOTE" in out and "MobileNetV2 speed-up over ResNet50 (x)" in out
    assert "This run measured 1.2; the text expects at least 1.5 (profile cpu)" in out
    assert "On your machine this can differ because" in out and "The lesson goes on" in out
    assert "1e+06" not in out and "1,000,000" not in out and "claim ok" not in out


def test_student_note_names_the_side_that_was_missed(capsys, student):
    """Above a one-sided-looking band the note quotes the upper bound, so it is never wrong."""
    claims.check("drift", 2e6, "offline", default=(100, 1e6))
    assert "measured 2,000,000; the text expects at most 1,000,000" in capsys.readouterr().out
    claims.check("val accuracy", 0.55, "offline", offline=(0.6, 1.0), why="the data set is tiny")
    out = capsys.readouterr().out
    assert "measured 0.55; the text expects at least 0.6" in out
    assert "can differ because the data set is tiny." in out


def test_student_note_for_nan(capsys, student):
    assert math.isnan(claims.check("loss", float("nan"), "cpu", cpu=(0.0, 1.0)))
    assert "This run measured nan; the text expects between 0 and 1" in capsys.readouterr().out


@pytest.mark.parametrize(("band", "words"), [
    ((100, 1e6), "at least 100"),
    ((1.5, 1000.0), "at least 1.5"),
    ((2, math.inf), "at least 2"),
    ((-math.inf, 0.2), "at most 0.2"),
    ((0, 0), "exactly 0"),
    ((0.70, 0.74), "between 0.7 and 0.74"),
    ((0.0, 1e-6), "between 0 and 0.000001"),
    ((0.01, 10.0), "between 0.01 and 10"),
])
def test_bands_are_described_in_words(band, words):
    assert claims.describe_band(*band) == words


def test_ok_line_never_shows_a_placeholder_bound(capsys, student):
    claims.check("lr 1e-2 moves the weights more (ratio)", 5000.0, "offline", default=(100, 1e6))
    out = capsys.readouterr().out
    assert "5,000 (expected at least 100, offline)" in out and "1e+06" not in out


@pytest.mark.parametrize("mode", ["strict", "student"])
def test_default_band_and_missing_band(request, mode):
    request.getfixturevalue(mode)
    assert claims.check("x", 1.0, "full", default=(0, 2)) == 1.0
    with pytest.raises(ValueError, match="no band for profile 'full'"):
        claims.check("x", 1.0, "full", offline=(0, 2))


@pytest.mark.parametrize("mode", ["strict", "student"])
def test_inverted_band_and_non_number_are_rejected_in_both_modes(request, mode):
    request.getfixturevalue(mode)
    with pytest.raises(ValueError, match="low > high"):
        claims.check("x", 1.0, "cpu", cpu=(2, 1))
    with pytest.raises(TypeError, match="must be a number, got str"):
        claims.check("x", "high", "cpu", cpu=(0, 1))
