"""The course autograder: nbgrader, wrapped so that one broken submission cannot stop a batch.

Modules, one topic each: :mod:`.course` (root, assignments), :mod:`.layout` (find submissions),
:mod:`.repair` (repair notebooks), :mod:`.preprocessors` (nbgrader pipeline additions),
:mod:`.runner` (one student, one process), :mod:`.gradebook` (merge, CSV), :mod:`.batch`
(``autograde``), :mod:`.release`, :mod:`.feedback`, :mod:`.check` (student preview),
:mod:`.bench`. Importing this package imports none of them.
"""

from __future__ import annotations

__all__ = ["batch", "bench", "check", "course", "feedback", "gradebook", "layout",
           "preprocessors", "release", "repair", "runner"]
