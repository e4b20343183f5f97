"""Grade one student in a private course folder, in a process of its own or a worker's.

:func:`grade` copies the assignment's template course (:mod:`.templates`: source, release, a
gradebook and the replay plan), repairs the submission into it and has nbgrader's own autograde
run there by a grading process (:mod:`.child`, a :class:`.workers.Worker`): a one-shot one per
student, or a long-lived one that keeps nbgrader imported and a pre-started kernel ready. A crash, a dead kernel or a runaway
notebook ends that process only. The grader gives it a :class:`.protocol.Job` and reads back one
:class:`.protocol.Outcome`. Limits (:class:`.protocol.Limits`): ``cell_timeout`` per cell
(nbgrader's ``Execute.timeout``), ``notebook_timeout`` for the whole notebook (both raised for an
assignment whose source asks for more: :func:`limits_for`) and ``memory_limit``, enforced by the
worker by killing the process tree.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
from pathlib import Path

from . import judge
from .child import KEPT
from .course import SOURCE
from .layout import Submission
from .protocol import Job, Limits
from .repair import SubmissionError, repair_file
from .workers import Worker

__all__ = ["Result", "kernel_preload", "limits_for", "grade", "grade_found", "safe_name"]


@dataclasses.dataclass
class Result:
    """One student's outcome. ``error`` is None when the notebook was graded."""

    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    error: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    folder: Path | None = None  # the private course folder it was graded in

    def as_json(self) -> dict:
        """The ``--json`` line: student, assignment, score, max_score, error."""
        return {"student": self.student, "assignment": self.assignment,
                "score": float(self.score), "max_score": float(self.max_score),
                "error": self.error}


def kernel_preload(notebook: Path) -> str:
    """Modules a pre-started kernel should import for ``notebook``: TensorFlow and Keras when
    its code uses them or a ``course_utils`` helper beyond the checks (a guess that only
    changes speed)."""
    import nbformat

    code = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells
                     if c.cell_type == "code")
    uses = re.search(r"\b(keras|tensorflow|setup_notebook)\b|course_utils\.(?!checks\b)\w+",
                     code)
    return "tensorflow,keras" if uses else ""


def limits_for(source: Path, base: Limits) -> Limits:
    """The limits for grading the source notebook ``source``: ``base``, with the time limits
    raised to what its metadata asks for (``"course": {"cell_timeout": s, "notebook_timeout":
    s}``; ex07 trains for a minute, and longer on a busy machine)."""
    import nbformat

    return base.raised(nbformat.read(source, as_version=4).metadata.get("course", {}))


def safe_name(name: str) -> str:
    """``name`` with anything but letters, digits, ``_.-`` replaced (for folder names)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def grade(template: Path, student: str, assignment: str, notebook: Path, stem: str,
          workdir: Path, limits: Limits | None = None, sandbox: bool = True,
          worker: Worker | None = None) -> Result:
    """Grade ``notebook`` for ``student``; never raises for a problem in the submission.

    The score is computed here, outside the sandbox, from the automatic scores of the scoring
    run; manual scores are never read from the private gradebook, and a submission the test
    guard found tampered with gets no score (``error`` says why).

    Args:
        limits: the time and memory limits (default :class:`.protocol.Limits`'s), raised where
            the assignment asks for more.
        sandbox: run the kernel in the bubblewrap sandbox.
        worker: a long-lived :class:`.workers.Worker` to run nbgrader and the judge in; None
            starts a one-shot one for this student alone.
    """
    start = time.perf_counter()
    limits = limits or Limits()
    if worker is None:
        with Worker(once=True) as once:
            result = _grade(template, student, assignment, notebook, stem, workdir, limits,
                            sandbox, once)
    else:
        result = _grade(template, student, assignment, notebook, stem, workdir, limits, sandbox,
                        worker)
    result.seconds = time.perf_counter() - start  # judging included
    return result


def _grade(template: Path, student: str, assignment: str, notebook: Path, stem: str,
           workdir: Path, limits: Limits, sandbox: bool, worker: Worker) -> Result:
    """:func:`grade`'s work, without the clock."""
    folder = workdir / f"{safe_name(student)}--{assignment}"
    result = Result(student, assignment, folder=folder)
    shutil.rmtree(folder, ignore_errors=True)
    source = template / SOURCE / assignment / f"{stem}.ipynb"
    limits = limits_for(source, limits)
    shutil.copytree(template, folder)
    try:
        result.notes = repair_file(notebook, source,
                                   folder / "submitted" / student / assignment / f"{stem}.ipynb")
    except SubmissionError as exc:
        result.error = str(exc)
        return result
    if judge.judged_cells(source):
        worker.judge.start()  # imports Keras while the notebook runs
    outcome = worker.run(Job("autograde", str(folder), assignment, student,
                             files=str(source.parent), preload=kernel_preload(source),
                             sandbox=sandbox, limits=limits))
    if outcome.stopped == "time":
        result.error = (f"the notebook ran longer than {limits.notebook_timeout} s in total (an "
                        "endless loop, or training for too long?) and was stopped")
        return result
    if outcome.stopped == "memory":
        result.error = (f"the notebook used more than {limits.memory_limit / 2**30:g} GiB of "
                        "memory and was stopped (a very large array or model?)")
        return result
    if not outcome.success:
        result.error = outcome.error
        return result
    if outcome.tampering:
        result.error = f"tampering detected, score withheld: {outcome.tampering[0]}"
        result.notes.extend(outcome.tampering[1:])
        return result
    graded = folder / "autograded" / student / assignment / f"{stem}.ipynb"
    try:
        result.notes += judge.apply(source, graded, folder / "gradebook.db", folder / KEPT,
                                    assignment, student, worker.judge)
    except RuntimeError as exc:
        result.error = f"internal error: {exc}; score withheld"
        return result
    result.score, result.max_score, manual = _auto_scores(folder / "gradebook.db", assignment,
                                                          student)
    if manual:
        result.notes.append("needs manual grading (a cell could not be graded automatically)")
    result.notes += [f"{cell} ran longer than {limits.cell_timeout} s and was interrupted"
                     for cell in outcome.timed_out_cells]
    return result


def _auto_scores(db: Path, assignment: str, student: str) -> tuple[float, float, bool]:
    """(sum of automatic scores, maximum, needs manual grading) of one graded submission."""
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    with Gradebook(db_url(db)) as gb:
        grades = [g for nb in gb.find_submission(assignment, student).notebooks
                  for g in nb.grades]
        return (float(sum(g.auto_score or 0 for g in grades)),
                float(sum(g.max_score for g in grades)),
                any(g.needs_manual_grade for g in grades))


def grade_found(template: Path, submission: Submission, stem: str, workdir: Path,
                limits: Limits, sandbox: bool, worker: Worker | None = None) -> Result:
    """Grade one found submission, or report why it cannot be graded."""
    if submission.problem:
        return Result(submission.student, submission.assignment, error=submission.problem)
    result = grade(template, submission.student, submission.assignment, submission.path, stem,
                   workdir, limits, sandbox, worker)
    if submission.note:
        result.notes.insert(0, submission.note)
    return result
