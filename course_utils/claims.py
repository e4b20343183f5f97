"""Claims are code: a number a lesson's prose states is checked against a band per profile.

A lesson writes, right after the cell that measures something::

    course_utils.claims.check("pretrained beats scratch by (accuracy points)", gap,
                              profile, offline=(0.10, 1.0), cpu=(0.15, 1.0), full=(0.15, 1.0))

and the cell fails (so CI fails) when prose and result drift apart.
"""

from __future__ import annotations

import math

from .env import Profile

__all__ = ["check"]


def check(
    statement: str,
    value: float,
    profile: Profile | str,
    **bands: tuple[float, float],
) -> float:
    """Assert that ``value`` lies in the band given for the active profile and print it.

    Args:
        statement: what the prose claims, in words.
        value: the measured number.
        profile: the active profile (or its name).
        **bands: ``offline=(low, high)``, ``cpu=...``, ``full=...``; inclusive bounds. A profile
            without a band uses ``default=(low, high)`` if given.

    Returns:
        ``value``, so a cell can print or reuse it.

    Raises:
        ValueError: no band for this profile, or a band with low > high.
        AssertionError: the value is outside the band (the message says which claim failed).
    """
    name = profile if isinstance(profile, str) else profile.name
    band = bands.get(name, bands.get("default"))
    if band is None:
        raise ValueError(f"claim {statement!r} has no band for profile {name!r}; "
                         f"give {name}=(low, high) or default=(low, high)")
    low, high = band
    if low > high:
        raise ValueError(f"claim {statement!r}: band {band} has low > high")
    value = float(value)
    if math.isnan(value) or not low <= value <= high:
        raise AssertionError(f"claim failed: {statement}: measured {value:.4g}, expected "
                             f"{low:.4g}..{high:.4g} in the {name} profile; update the prose "
                             f"or find out what changed")
    print(f"claim ok: {statement}: {value:.4g} (expected {low:.4g}..{high:.4g}, {name})")
    return value
