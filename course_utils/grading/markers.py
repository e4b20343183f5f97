"""Hidden-test markers, recognised by one rule: the one nbgrader applies.

nbgrader's ``ClearHiddenTests`` splits a cell's source on ``\\n`` and hides every line from one
that *contains* ``BEGIN HIDDEN TESTS`` to the next one that contains ``END HIDDEN TESTS``, both
marker lines included, whatever surrounds the words (one ``#`` or three, a trailing space, a
``\\r`` left by CRLF line ends). ``course release`` (what must not reach students), feedback
(what a student may see) and the graded-traceback trimmer use :func:`split` so that all three
agree with what nbgrader removes.
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests

__all__ = ["BEGIN", "END", "split", "has_hidden"]

BEGIN = ClearHiddenTests.begin_test_delimeter.default_value  # "BEGIN HIDDEN TESTS"
END = ClearHiddenTests.end_test_delimeter.default_value  # "END HIDDEN TESTS"


def split(source: str) -> tuple[list[str], list[str]]:
    """Return ``(visible, hidden)``: the lines of ``source`` outside and inside hidden regions.

    Marker lines belong to neither. A region left open runs to the end of the cell (nbgrader
    refuses such a cell when it generates the assignment).
    """
    visible: list[str] = []
    hidden: list[str] = []
    inside = False
    for line in source.split("\n"):
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        else:
            (hidden if inside else visible).append(line)
    return visible, hidden


def has_hidden(source: str) -> bool:
    """Whether ``source`` has a hidden-test marker (nbgrader's substring rule)."""
    return BEGIN in source
