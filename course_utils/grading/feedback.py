"""``feedback``: per-student HTML feedback with nbgrader generate_feedback, hidden tests removed.

nbgrader_config.py adds ``TrimHiddenTracebacks`` and nbgrader's ``ClearHiddenTests`` to the
feedback pipeline; this module then verifies every HTML file and deletes (and reports) any that
still shows a hidden-test marker or a line of hidden test code.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CourseError
from . import course, runner
from .release import hidden_test_lines

__all__ = ["feedback", "leaks"]


def leaks(html: str, hidden: set[str]) -> list[str]:
    """Hidden-test markers or hidden code lines found in ``html``."""
    import html as html_lib
    import re

    text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
    found = [m for m in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS") if m in text]
    return found + sorted(line for line in hidden if line in text)


def feedback(assignment: str | None = None, root: Path | str | None = None,
             gradebook_path: Path | str | None = None) -> list[Path]:
    """Generate ``feedback/<student>/<assignment>/<notebook>.html`` for autograded students.

    Returns:
        The HTML files written.

    Raises:
        CourseError: unknown assignment, nothing autograded, generation failed or a leak found.
    """
    root = course.course_root(root)
    known = course.assignments(root)
    names = [assignment] if assignment else sorted(known)
    if assignment:
        course.source_notebook(root, assignment)
    extra = {"COURSE_GRADEBOOK": str(Path(gradebook_path).resolve())} if gradebook_path else {}
    written: list[Path] = []
    for name in names:
        if not list((root / "autograded").glob(f"*/{name}/*.ipynb")):
            if assignment:
                raise CourseError(f"nothing autograded for {name}: run `course autograde` first")
            continue
        done = runner.run_child(["generate_feedback", str(root), name], root,
                                runner.NOTEBOOK_TIMEOUT, extra)
        outcome = json.loads((root / "result.json").read_text()) if done else {}
        (root / "result.json").unlink(missing_ok=True)
        if not outcome.get("success"):
            raise CourseError(f"nbgrader generate_feedback failed for {name}: "
                              f"{(outcome.get('error') or 'timed out').strip()[-300:]}")
        hidden = hidden_test_lines(course.source_notebook(root, name))
        leaked = []
        for html in sorted((root / "feedback").glob(f"*/{name}/*.html")):
            found = leaks(html.read_text(encoding="utf-8"), hidden)
            if found:  # check every file; never hand back one that shows hidden tests
                html.unlink()
                leaked.append(f"{html.relative_to(root)} ({found[0]!r})")
            else:
                written.append(html)
        if leaked:
            raise CourseError(f"{len(leaked)} feedback file(s) showed hidden tests and were "
                              f"deleted: {', '.join(leaked[:3])}")
    return written
