"""Hidden-test markers, recognised by one rule: the one nbgrader applies.

nbgrader's ``ClearHiddenTests`` splits a cell's source on ``\\n`` and hides every line from one
that *contains* ``BEGIN HIDDEN TESTS`` to the next one that contains ``END HIDDEN TESTS``, both
marker lines included, whatever surrounds the words (one ``#`` or three, a trailing space, a
``\\r`` left by CRLF line ends). ``course release`` (what must not reach students), feedback
(what a student may see) and the graded-traceback trimmer use :func:`split` so that all three
agree with what nbgrader removes; release and feedback look for the lines only the hidden regions
hold (:func:`hidden_test_lines`) in what they write (:func:`leaks`, :func:`safe_message`).
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests

__all__ = ["BEGIN", "END", "split", "has_hidden", "hidden_test_lines", "leaks", "safe_message"]

BEGIN = ClearHiddenTests.begin_test_delimeter.default_value  # "BEGIN HIDDEN TESTS"
END = ClearHiddenTests.end_test_delimeter.default_value  # "END HIDDEN TESTS"
_ENCODED = re.compile(r"[A-Za-z0-9+/=_-]{40,}")  # base64, hex and the like


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


def hidden_test_lines(notebook: Path) -> set[str]:
    """Non-trivial lines of code that occur only inside the hidden-test regions of a notebook.

    A line that also appears elsewhere in the source (a visible test repeating a check) is not
    secret, so finding it in a student's notebook or feedback is no leak.
    """
    hidden, visible = set(), set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        shown, secret = split(cell.source)
        hidden.update(line.strip() for line in secret if len(line.strip()) > 8)
        visible.update(line.strip() for line in shown)
    return hidden - visible


def leaks(html: str, hidden: set[str]) -> list[str]:
    """Lines of hidden-test code found in ``html`` (marker comments alone reveal nothing, and a
    student may type them)."""
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
    return sorted(line for line in hidden if line in text)


def safe_message(message: str, hidden: set[str]) -> str:
    """The first line of a failure message, at most 200 characters, or a note that it was
    withheld because it quotes hidden tests or carries encoded data."""
    first = (message.strip().splitlines() or [""])[0][:200]
    if any(line in message for line in hidden) or _ENCODED.search(message):
        return "(the message is withheld: it quoted hidden tests or encoded data)"
    return first
