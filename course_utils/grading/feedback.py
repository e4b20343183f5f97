"""``feedback``: per-student HTML feedback that never contains hidden tests.

The scoring run (autograde) executed hidden tests in the student's kernel, so anything that run
printed may carry them, in any encoding. Feedback therefore comes from a second run of the
student's own notebook with only the released, visible tests (the test cells of ``exercises/``),
in the same sandbox. A test cell scored by the judge (:mod:`.judge`) shows the judge's lines from
the scoring run instead. Each graded test cell then gets a line with its score from the gradebook
and, when it lost points, the scoring run's failure message — one line, shortened, and withheld
if it quotes hidden-test code or looks like encoded data. Each student is handled on their own:
a notebook that cannot be run or a page that fails the final leak scan costs only that
student's page, and is reported.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from ..atomic import atomic_path
from ..errors import CourseError
from . import course, judge, runner
from .execute import is_test_cell
from .markers import hidden_test_lines, leaks, safe_message
from .protocol import CELL_TIMEOUT, NOTEBOOK_TIMEOUT, Job, Limits
from .repair import SubmissionError, grade_id, read_notebook, repair
from .workers import Worker

__all__ = ["feedback"]

def _limit_outputs(nb, max_lines: int = 1000, max_chars: int = 10_000) -> None:
    """Shorten huge stream outputs (a million printed lines must not make a 10 MB page)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                lines = output.text.splitlines(keepends=True)
                kept = [line if len(line) <= max_chars else line[:max_chars] + " ...\n"
                        for line in lines[:max_lines]]
                if len(lines) > max_lines:
                    kept.append(f"... ({len(lines) - max_lines} more lines not shown)\n")
                output.text = "".join(kept)


def _visible_notebook(submitted: Path, release: Path) -> nbformat.NotebookNode:
    """The student's notebook with the released test cells (no hidden tests), outputs cleared."""
    nb = read_notebook(submitted)
    released = nbformat.read(release, as_version=4)
    repair(nb, released)
    tests = {grade_id(c): c.source for c in released.cells if is_test_cell(c)}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if grade_id(cell) in tests:
                cell.source = tests[grade_id(cell)]
    return nb


def _own_lines(nb: nbformat.NotebookNode) -> set[str]:
    """The stripped lines of every cell of ``nb`` but its (released) test cells."""
    return {line.strip() for cell in nb.cells if not is_test_cell(cell)
            for line in cell.source.splitlines()}


def _scores(gradebook_path: Path, assignment: str, stem: str, student: str) -> dict[str, tuple]:
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    with Gradebook(db_url(gradebook_path)) as gb:
        grades = gb.find_submission_notebook(stem, assignment, student).grades
        return {g.name: (g.score, g.max_score) for g in grades}


def _failures(autograded: Path) -> dict[str, str]:
    """grade_id -> the scoring run's error message, for test cells that failed."""
    found = {}
    for cell in nbformat.read(autograded, as_version=4).cells:
        if is_test_cell(cell):
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                found[grade_id(cell)] = f"{errors[0].ename}: {errors[0].evalue}"
    return found


def _judged_outputs(nb, autograded: Path, judged: set[str]) -> None:
    """Give the judged test cells (:mod:`.judge`) the judge's lines from the scoring run instead
    of what the sandboxed kernel printed there (it cannot see what they are judged on)."""
    lines = {grade_id(cell): [o for o in cell.get("outputs", []) if o.output_type == "stream"]
             for cell in nbformat.read(autograded, as_version=4).cells
             if grade_id(cell) in judged}
    for cell in nb.cells:
        if grade_id(cell) in lines:
            cell.outputs = lines[grade_id(cell)]


def _annotate(nb, scores: dict[str, tuple], failures: dict[str, str], hidden: set[str]) -> None:
    for cell in nb.cells:
        gid = grade_id(cell)
        if not is_test_cell(cell) or gid not in scores:
            continue
        score, max_score = scores[gid]
        text = f"Score: {score:g} / {max_score:g}"
        if score < max_score and gid in failures:
            text += f" — {safe_message(failures[gid], hidden)}"
        cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=text + "\n"))


def _render(nb, title: str) -> str:
    from nbconvert import HTMLExporter

    nb.metadata["title"] = title
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    return body


def _one(root: Path, gradebook_path: Path, assignment: str, stem: str, student: str,
         hidden: set[str], sandbox: bool, limits: Limits) -> Path:
    submitted = root / "submitted" / student / assignment / f"{stem}.ipynb"
    release = root / course.RELEASE / assignment / f"{stem}.ipynb"
    target = root / "feedback" / student / assignment / f"{stem}.html"
    source = root / course.SOURCE / assignment / f"{stem}.ipynb"
    limits = runner.limits_for(source, limits)
    with tempfile.TemporaryDirectory(prefix="course-feedback-") as tmp:
        tmp = Path(tmp)
        notebook = tmp / "notebook" / f"{stem}.ipynb"  # alone in its folder: the kernel's files
        notebook.parent.mkdir()
        try:
            visible = _visible_notebook(submitted, release)
        except (SubmissionError, OSError) as exc:
            raise CourseError(f"cannot read the submission: {exc}") from None
        own = _own_lines(visible)  # a hidden line the student wrote themselves tells them nothing
        hidden = {line for line in hidden if not any(line in mine for mine in own)}
        nbformat.write(visible, notebook)
        with Worker(once=True) as worker:
            outcome = worker.run(Job("execute", str(notebook), sandbox=sandbox, limits=limits))
        if not outcome.success:
            raise CourseError(f"the visible-tests run failed: {outcome.error}")
        nb = nbformat.read(notebook, as_version=4)
    _limit_outputs(nb)
    autograded = root / "autograded" / student / assignment / f"{stem}.ipynb"
    _judged_outputs(nb, autograded, set(judge.judged_cells(source)))
    _annotate(nb, _scores(gradebook_path, assignment, stem, student), _failures(autograded),
              hidden)
    page = _render(nb, f"{assignment}: feedback for {student}")
    found = leaks(page, hidden)
    if found:
        raise CourseError(f"the page showed hidden tests ({found[0]!r}) and was not written")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as partial:
        partial.write_text(page, encoding="utf-8")
    return target


def feedback(assignment: str | None = None, root: Path | str | None = None,
             gradebook_path: Path | str | None = None, sandbox: bool = True,
             students: list[str] | None = None, workers: int = 1,
             cell_timeout: int = CELL_TIMEOUT,
             notebook_timeout: int = NOTEBOOK_TIMEOUT) -> list[Path]:
    """Write ``feedback/<student>/<assignment>/<notebook>.html`` for every autograded student.

    Args:
        assignment: only this assignment (default: all that were autograded).
        root: course root (default: :func:`course.course_root`).
        gradebook_path: gradebook file (default ``<root>/gradebook.db``).
        sandbox: run the visible-tests run in the bubblewrap sandbox (``--no-sandbox``: False).
        students: only these students (default: every autograded one).
        workers: students handled at once.
        cell_timeout, notebook_timeout: limits of that run, in seconds.

    Returns:
        The HTML files written.

    Raises:
        CourseError: unknown assignment, nothing autograded, no sandbox possible, or some
            students' pages could not be made (the others are written; the message lists them).
    """
    root = course.course_root(root)
    known = course.assignments(root)
    names = [assignment] if assignment else sorted(known)
    if assignment:
        course.source_notebook(root, assignment)
    if sandbox:
        from .preflight import require, warm_caches

        require()
        warm_caches()
    gradebook_path = Path(gradebook_path or root / "gradebook.db").resolve()
    limits = Limits(cell_timeout, notebook_timeout)
    written: list[Path] = []
    failed: list[str] = []
    for name in names:
        stem = known[name]
        graded = sorted(p.parent.parent.name
                        for p in (root / "autograded").glob(f"*/{name}/{stem}.ipynb"))
        graded = [s for s in graded if students is None or s in students]
        if not graded:
            if assignment:
                raise CourseError(f"nothing autograded for {name}: run `course autograde` first")
            continue
        hidden = hidden_test_lines(course.source_notebook(root, name))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {student: pool.submit(_one, root, gradebook_path, name, stem, student,
                                            hidden, sandbox, limits)
                       for student in graded}
            for student, future in futures.items():
                try:
                    written.append(future.result())
                except CourseError as exc:
                    failed.append(f"{student}/{name}: {exc}")
    if failed:
        raise CourseError(f"{len(failed)} feedback page(s) not written ({len(written)} written): "
                          + "; ".join(failed[:3]))
    return written
