"""Claims are code: a number a lesson's prose states is checked against a band per profile.

A lesson writes, right after the cell that measures something::

    course_utils.claims.check("pretrained beats scratch by (accuracy points)", gap,
                              profile, offline=(0.10, 1.0), cpu=(0.15, 1.0), full=(0.15, 1.0))

What happens when the measurement is outside the band depends on who runs the lesson:

* CI and anyone who sets ``COURSE_STRICT=1``: the cell fails (``AssertionError``), so prose and
  results cannot drift apart unnoticed.
* a student (the default): the cell prints a plain-language note saying what was measured, what
  the text expects and why a run can differ, and the lesson goes on.
"""

from __future__ import annotations

import decimal
import math
import os

from ..runtime.env import Profile

__all__ = ["STRICT_VARIABLE", "DEFAULT_REASON", "is_strict", "describe_band", "check"]

STRICT_VARIABLE = "COURSE_STRICT"
DEFAULT_REASON = ("training, timing and random starts depend on the machine (CPU or GPU and its "
                  "speed) and on the library versions installed, and the text was written from "
                  "the course's own test runs")
# A bound this many times larger than the other (or infinite) only says "no upper limit".
_OPEN_ENDED = 100.0


def is_strict() -> bool:
    """Return True when a claim outside its band must fail (``COURSE_STRICT`` set, not ``0``)."""
    return os.environ.get(STRICT_VARIABLE, "").strip() not in ("", "0")


def _number(x: float) -> str:
    """Write a number the way a person would: ``1,000,000``, ``0.000001``, ``0.6551``."""
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return format(decimal.Decimal(f"{x:.4g}"), "f")


def describe_band(low: float, high: float) -> str:
    """Say in words what a band ``(low, high)`` allows.

    Args:
        low: the lowest value allowed (``-math.inf``: no lower limit).
        high: the highest value allowed (``math.inf``, or a placeholder far above ``low`` such
            as ``1e6``: no upper limit).

    Returns:
        ``"exactly 2"``, ``"at least 100"``, ``"at most 0.2"`` or ``"between 0.7 and 0.74"``.
    """
    if low == high:
        return f"exactly {_number(low)}"
    if math.isinf(high) or (not math.isinf(low) and high >= _OPEN_ENDED * max(abs(low), 1.0)):
        return f"at least {_number(low)}"
    if math.isinf(low):
        return f"at most {_number(high)}"
    return f"between {_number(low)} and {_number(high)}"


def _note(statement: str, value: float, low: float, high: float, name: str, why: str) -> str:
    """The message a student sees when a measurement misses the text's range."""
    # Name only the side that was missed, so the range quoted is always true to the band.
    if math.isnan(value):
        expected = describe_band(low, high)
    elif value < low:
        expected = f"at least {_number(low)}"
    else:
        expected = f"at most {_number(high)}"
    return (f"NOTE - a number in the text differs in this run: {statement}.\n"
            f"  This run measured {_number(value)}; the text expects {expected} "
            f"(profile {name}).\n"
            f"  On your machine this can differ because {why}. The lesson goes on; read the "
            f"text's explanation with your own number in mind.")


def check(
    statement: str,
    value: float,
    profile: Profile | str,
    *,
    why: str = DEFAULT_REASON,
    **bands: tuple[float, float],
) -> float:
    """Check that ``value`` lies in the band given for the active profile, and say so.

    Args:
        statement: what the prose claims, in words.
        value: the measured number.
        profile: the active profile (or its name).
        why: the end of "on your machine this can differ because ...", shown to a student when
            the value is outside the band.
        **bands: ``offline=(low, high)``, ``cpu=...``, ``full=...``; inclusive bounds. A profile
            without a band uses ``default=(low, high)`` if given.

    Returns:
        ``value`` as a float, so a cell can print or reuse it.

    Raises:
        ValueError: no band for this profile, or a band with low > high.
        TypeError: ``value`` is not a number.
        AssertionError: the value is outside the band (NaN included) and ``COURSE_STRICT`` is
            set; otherwise a note is printed instead.
    """
    name = profile if isinstance(profile, str) else profile.name
    band = bands.get(name, bands.get("default"))
    if band is None:
        raise ValueError(f"claim {statement!r} has no band for profile {name!r}; "
                         f"give {name}=(low, high) or default=(low, high)")
    low, high = (float(bound) for bound in band)
    if low > high:
        raise ValueError(f"claim {statement!r}: band {band} has low > high")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"claim {statement!r}: the measured value must be a number, got "
                        f"{type(value).__name__}") from None
    if not math.isnan(value) and low <= value <= high:
        print(f"claim ok: {statement}: {_number(value)} "
              f"(expected {describe_band(low, high)}, {name})")
        return value
    if is_strict():
        raise AssertionError(f"claim failed: {statement}: measured {value:.4g}, expected "
                             f"{low:.4g}..{high:.4g} in the {name} profile; update the prose "
                             f"or find out what changed")
    print(_note(statement, value, low, high, name, why))
    return value
