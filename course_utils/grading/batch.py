"""``autograde``: grade a batch of submissions, in parallel, into one gradebook and grades.csv.

Design: each student is graded in a private course folder with a kernel of its own
(:mod:`.runner`), by one of ``workers`` long-lived grading processes (:mod:`.workers`) on this
machine or by a task on a Dask cluster (:mod:`.cluster`). Results are merged into the main
gradebook one at a time in this process (:mod:`.gradebook`), so SQLite never sees two writers.
A regrade replaces a student's earlier grade only when it succeeds; an error leaves the earlier
grade in place and is reported (JSON line, grades.csv ``error`` column). Re-running is idempotent.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import course, gradebook, layout, preflight, runner
from .protocol import CELL_TIMEOUT, MEMORY_LIMIT, NOTEBOOK_TIMEOUT, Limits
from .templates import template

__all__ = ["autograde"]


def autograde(submissions: Path | str, assignment: str | None = None, workers: int = 1,
              root: Path | str | None = None, gradebook_path: Path | str | None = None,
              csv_path: Path | str | None = None, cell_timeout: int = CELL_TIMEOUT,
              notebook_timeout: int = NOTEBOOK_TIMEOUT, sandbox: bool = True,
              memory_limit: int = MEMORY_LIMIT, warm: bool = True,
              scheduler: str | None = None,
              on_result: Callable[[runner.Result], None] | None = None,
              on_start: Callable[[int], None] | None = None) -> list[runner.Result]:
    """Grade every submission found in ``submissions``.

    Args:
        submissions: nbgrader layout folder, flat LMS folder, or a zip of either.
        assignment: only this assignment (default: every assignment found).
        workers: students graded at once on this machine (ignored with ``scheduler``).
        root: course root (default: :func:`course.course_root`).
        gradebook_path: gradebook file (default ``<root>/gradebook.db``).
        csv_path: CSV written at the end (default ``<root>/grades.csv``).
        cell_timeout, notebook_timeout: seconds per cell and for a whole notebook.
        sandbox: run each kernel in the bubblewrap sandbox (:mod:`.sandbox`). False only when
            the instructor asked for it (``--no-sandbox``); grades.csv records it.
        memory_limit: bytes one student's grading may use before it is stopped.
        warm: grade in long-lived workers with pre-started kernels (:mod:`.workers`); False
            starts a new grading process per student (slower; the same grades).
        scheduler: address of a Dask scheduler (``tcp://host:8786``): each student is graded
            as a task on its workers (:mod:`.cluster`); this process alone writes the
            gradebook, grades.csv and the course folders.
        on_result: called with each result as soon as it is merged.
        on_start: called once with the number of submissions found, before grading starts.

    Returns:
        One :class:`runner.Result` per submission, in the order found.

    Raises:
        CourseError: asserts disabled, no sandbox possible here (and ``sandbox`` is True),
            unknown assignment, nothing to grade, no scheduler at ``scheduler``.
        FileNotFoundError: ``submissions`` does not exist.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    preflight.asserts_enabled_or_refuse()
    if sandbox and scheduler is None:
        preflight.require()
        preflight.warm_caches()
    preflight.ensure_tools_on_path()
    root = course.course_root(root)
    known = course.assignments(root)
    if assignment is not None:
        course.source_notebook(root, assignment)  # raises for an unknown name
    main_db = Path(gradebook_path or root / "gradebook.db").resolve()
    csv_file = Path(csv_path or root / "grades.csv")
    limits = Limits(cell_timeout, notebook_timeout, memory_limit)
    with tempfile.TemporaryDirectory(prefix="course-autograde-") as tmp:
        workdir = Path(tmp)
        found = layout.find_submissions(layout.unpack(Path(submissions), workdir), known,
                                        assignment)
        templates = {name: template(root, name)
                     for name in sorted({s.assignment for s in found})}
        if on_start:
            on_start(len(found))
        earlier = gradebook.scores(main_db)
        results: dict[int, runner.Result] = {}
        errors: dict[tuple[str, str], str] = {}
        if scheduler is not None:
            from . import cluster

            outcomes = cluster.grade(scheduler, found, templates, known, workdir, limits,
                                     sandbox)
        else:
            outcomes = _grade_here(found, templates, known, workdir, limits, sandbox, workers,
                                   warm)
        for index, outcome in outcomes:
            submission = found[index]
            try:
                if isinstance(outcome, BaseException):
                    raise outcome
                result = outcome
                if result.error is None:
                    _store(result, root, main_db, submission.path, known[result.assignment])
            except Exception as exc:  # one student's failure must never stop the batch
                result = runner.Result(submission.student, submission.assignment,
                                       error=f"internal error: {type(exc).__name__}: {exc}")
            key = (result.student, result.assignment)
            if result.error is not None:
                errors[key] = result.error
                if key in earlier:  # keep, and report, the earlier grade
                    result.score, result.max_score = earlier[key][:2]
                    result.error += " (earlier grade kept)"
            if result.folder:
                shutil.rmtree(result.folder, ignore_errors=True)
            results[index] = result
            if on_result:
                on_result(result)
        gradebook.write_csv(main_db, csv_file, errors,
                            {(r.student, r.assignment): sandbox for r in results.values()})
    return [results[index] for index in sorted(results)]


def _grade_here(found: list[layout.Submission], templates: dict[str, Path], known: dict[str, str],
                workdir: Path, limits: Limits, sandbox: bool, workers: int,
                warm: bool) -> Iterator[tuple[int, runner.Result | BaseException]]:
    """Grade on this machine, ``workers`` students at once; yield ``(index, result or error)``
    as each finishes."""
    from .workers import Pool

    lender = Pool()

    def one(submission: layout.Submission) -> runner.Result:
        grade = functools.partial(runner.grade_found, templates[submission.assignment],
                                  submission, known[submission.assignment], workdir, limits,
                                  sandbox)
        if not warm:
            return grade()
        with lender.borrow() as worker:
            return grade(worker=worker)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(one, s): index for index, s in enumerate(found)}
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except Exception as exc:  # noqa: BLE001 (reported as that student's error)
                    yield futures[future], exc
    finally:
        lender.shutdown()


def _store(result: runner.Result, root: Path, main_db: Path, original: Path, stem: str) -> None:
    """Merge a graded student into the main gradebook and the course's working folders."""
    gradebook.merge_submission(result.folder / "gradebook.db", main_db, result.assignment,
                               result.student)
    for kind in ("autograded", "submitted"):
        target = root / kind / result.student / result.assignment
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(result.folder / kind / result.student / result.assignment, target)
    shutil.copyfile(original, root / "submitted" / result.student / result.assignment /
                    f"{stem}.ipynb")
