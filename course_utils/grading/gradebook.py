"""Merge one student's private gradebook into the course gradebook; export grades.csv.

Students are graded in parallel, each in a private course folder with its own SQLite gradebook,
so no two processes ever write one database. The parent process merges each successful result
here, one at a time, through nbgrader's :class:`~nbgrader.api.Gradebook` API. A failed regrade
never reaches this module: the student's earlier grade is kept.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

from nbgrader.api import Gradebook

from ..atomic import atomic_path

__all__ = ["db_url", "copy_assignment", "merge_submission", "scores", "write_csv"]


def db_url(path: Path) -> str:
    """SQLAlchemy URL of the SQLite gradebook at ``path``."""
    return f"sqlite:///{Path(path).resolve()}"


def copy_assignment(source: Gradebook, target: Gradebook, assignment: str) -> None:
    """Create or update ``assignment``'s notebooks and cells in ``target`` from ``source``."""
    original = source.find_assignment(assignment)
    target.update_or_create_assignment(assignment, duedate=original.duedate)
    for notebook in original.notebooks:
        name = notebook.name
        target.update_or_create_notebook(name, assignment)
        for cell in notebook.grade_cells:
            target.update_or_create_grade_cell(cell.name, name, assignment,
                                               max_score=cell.max_score, cell_type=cell.cell_type)
        for cell in notebook.solution_cells:
            target.update_or_create_solution_cell(cell.name, name, assignment)
        for cell in notebook.task_cells:
            target.update_or_create_task_cell(cell.name, name, assignment,
                                              max_score=cell.max_score, cell_type=cell.cell_type)
        for cell in notebook.source_cells:
            target.update_or_create_source_cell(cell.name, name, assignment,
                                                cell_type=cell.cell_type, locked=cell.locked,
                                                source=cell.source, checksum=cell.checksum)


def merge_submission(private_db: Path, main_db: Path, assignment: str, student: str) -> None:
    """Replace ``student``'s submission of ``assignment`` in ``main_db`` with the private one."""
    with warnings.catch_warnings():  # nbgrader's add_submission trips SQLAlchemy autoflush notes
        warnings.simplefilter("ignore")
        _merge(private_db, main_db, assignment, student)


def _merge(private_db: Path, main_db: Path, assignment: str, student: str) -> None:
    with Gradebook(db_url(private_db)) as source, Gradebook(db_url(main_db)) as target:
        copy_assignment(source, target, assignment)
        graded = source.find_submission(assignment, student)
        target.update_or_create_student(student)
        # Like nbgrader's own autograde: update the submission in place, so manual scores,
        # extra credit and comments an instructor entered (formgrader) survive a regrade.
        target.update_or_create_submission(assignment, student, timestamp=graded.timestamp)
        for notebook in graded.notebooks:
            for grade in notebook.grades:
                into = target.find_grade(grade.name, notebook.name, assignment, student)
                into.auto_score = grade.auto_score
                into.needs_manual_grade = grade.needs_manual_grade
            for comment in notebook.comments:
                into = target.find_comment(comment.name, notebook.name, assignment, student)
                into.auto_comment = comment.auto_comment
        target.db.commit()


def scores(main_db: Path) -> dict[tuple[str, str], tuple[float, float, bool]]:
    """(student, assignment) -> (score, max_score, needs_manual_grade) for every submission."""
    result = {}
    if not Path(main_db).exists():
        return result
    with Gradebook(db_url(main_db)) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                result[(submission.student.id, assignment.name)] = (
                    float(submission.score), float(submission.max_score),
                    bool(submission.needs_manual_grade))
    return result


def write_csv(main_db: Path, path: Path, errors: dict[tuple[str, str], str],
              sandboxed: dict[tuple[str, str], bool] | None = None) -> None:
    """Write ``grades.csv``: every graded submission plus this run's errors.

    Columns: student, assignment, score, max_score, error, sandbox. A student whose regrade
    failed keeps the earlier score, with the error beside it. ``sandbox`` is ``yes``/``no`` for
    the students graded in this run (``no``: ``--no-sandbox``) and empty for earlier ones.
    """
    sandboxed = sandboxed or {}
    rows = {key: (f"{s:g}", f"{m:g}", "") for key, (s, m, _) in scores(main_db).items()}
    for key, message in errors.items():
        score, max_score, _ = rows.get(key, ("", "", ""))
        rows[key] = (score, max_score, message)
    rows = {key: (*row, {True: "yes", False: "no"}.get(sandboxed.get(key), ""))
            for key, row in rows.items()}
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)  # written whole, then renamed: never half a file
        writer.writerow(["student", "assignment", "score", "max_score", "error", "sandbox"])
        for (student, assignment), row in sorted(rows.items(), key=lambda kv: kv[0][::-1]):
            writer.writerow([student, assignment, *row])
