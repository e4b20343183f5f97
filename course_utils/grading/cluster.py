"""Grade on a Dask cluster: ``course autograde SUBMISSIONS --scheduler tcp://HOST:8786``.

The scheduler and its workers are Dask's own (``dask scheduler``, ``dask worker``); each worker
needs the course installed (``pip install "pretrained-course[grading]"``) and bubblewrap, like a
grading machine. Here, in the instructor's process, each student becomes one task that carries
the assignment's template (sent to the workers once, as an archive) and the student's notebook;
on a worker, :func:`grade_remote` grades it exactly as :func:`.batch.autograde` does on one
machine (a private course folder, a long-lived :class:`.workers.Worker` of that Dask worker, a
kernel of its own in the sandbox) and returns the result record with an archive of the private
gradebook and the autograded notebook. Only the instructor's process writes ``gradebook.db``,
``grades.csv`` and the course folders: a worker never sees them.

A worker that dies mid-batch loses nothing: Dask runs its tasks again on another worker, and each
task's result is received here once, so no student is recorded twice. Two things make that hold
whatever the timing: the template travels as the result of a task, which Dask recomputes when
every worker holding it has died (scattered data would be lost for good), and a result is
released as soon as it is received, so a worker dying later does not have it graded again.
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import CourseError
from . import layout, runner
from .protocol import Limits

__all__ = ["grade", "grade_remote", "check_worker"]

CONNECT_TIMEOUT = "20s"


def _pack(folder: Path, members: list[str] | None = None) -> bytes:
    """A gzip'd tar of ``folder`` (or of the ``members`` paths inside it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in members or ["."]:
            if (folder / name).exists():
                archive.add(folder / name, arcname=name)
    return buffer.getvalue()


def _held(archive: bytes) -> bytes:
    """A template archive as a task's result: Dask can recompute it (see :func:`grade`)."""
    return archive


def _unpack(data: bytes, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(target, filter="data")  # no absolute paths, links out or devices


# --- on a Dask worker ---------------------------------------------------------------------------

_lock = threading.Lock()
_templates: dict[str, Path] = {}  # template name -> where this worker process unpacked it
_pool = None  # this process's grading workers (a .workers.Pool), made on first use
_home: Path | None = None


def check_worker() -> str:
    """Run on every worker before a batch: the sandbox works there and its caches are built.

    Returns:
        "" when the worker can grade, else why not (one line).
    """
    from . import preflight

    try:
        preflight.asserts_enabled_or_refuse()
        preflight.require()
        preflight.warm_caches()
    except CourseError as exc:
        return str(exc)
    return ""


def grade_remote(template: bytes, template_name: str, student: str, assignment: str,
                 notebook: bytes, note: str | None, stem: str, limits: Limits,
                 sandbox: bool) -> tuple[dict, bytes]:
    """Grade one student on this (Dask worker's) machine.

    Returns:
        ``(record, archive)``: the :class:`.runner.Result` fields (without its folder) and a
        gzip'd tar of the private gradebook and the student's ``autograded`` and ``submitted``
        folders (empty when the notebook could not be graded).
    """
    global _home, _pool
    with _lock:
        if _home is None:
            _home = Path(tempfile.mkdtemp(prefix="course-dask-"))
        if template_name not in _templates:
            _unpack(template, _home / "templates" / template_name)
            _templates[template_name] = _home / "templates" / template_name
        if _pool is None:
            from .workers import Pool

            _pool = Pool()
        pool = _pool
    with tempfile.TemporaryDirectory(prefix="student-", dir=_home) as tmp:
        path = Path(tmp) / f"{stem}.ipynb"
        path.write_bytes(notebook)
        submission = layout.Submission(student, assignment, path, note=note)
        with pool.borrow() as worker:
            result = runner.grade_found(_templates[template_name], submission, stem, Path(tmp),
                                        limits, sandbox, worker)
        record = dataclasses.asdict(result)
        record.pop("folder")
        archive = b""
        if result.error is None:
            archive = _pack(result.folder, ["gradebook.db", f"autograded/{student}",
                                            f"submitted/{student}"])
    return record, archive


# --- in the instructor's process ----------------------------------------------------------------

def _connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise CourseError(f"cannot reach the Dask scheduler at {address} ({exc}); start one with "
                          "`dask scheduler` and workers with `dask worker ADDRESS --nthreads 1`, "
                          "or grade on this machine without --scheduler") from None


def grade(address: str, found: list[layout.Submission], templates: dict[str, Path],
          known: dict[str, str], workdir: Path,
          limits: Limits, sandbox: bool) -> Iterator[tuple[int, runner.Result | BaseException]]:
    """Grade ``found`` on the cluster at ``address``; yield ``(index, result or error)`` as each
    finishes (the result's folder unpacked under ``workdir``, ready to be merged).

    Raises:
        CourseError: no scheduler there, no workers, or a worker that cannot grade.
    """
    from distributed import as_completed

    client = _connect(address)
    try:
        if not client.scheduler_info().get("workers"):
            raise CourseError(f"the Dask scheduler at {address} has no workers; start some with "
                              f"`dask worker {address} --nthreads 1`")
        if sandbox:
            for worker, why in client.run(check_worker).items():
                if why:
                    raise CourseError(f"Dask worker {worker} cannot grade: {why}")
        # Not client.scatter: Dask's Active Memory Manager keeps a scattered key on one worker
        # once every student still to grade is running there, and scattered data whose last
        # holder dies cannot be recovered, so killing that worker failed all its students
        # (FutureCancelledError). A task's result is recomputed from the task (which holds the
        # archive) on a surviving worker instead.
        packed = {name: client.submit(_held, _pack(folder), pure=False,
                                      key=f"template-{name}-{workdir.name}")
                  for name, folder in templates.items()}
        futures = {}
        for index, submission in enumerate(found):
            if submission.problem:
                yield index, runner.Result(submission.student, submission.assignment,
                                           error=submission.problem)
                continue
            future = client.submit(
                grade_remote, packed[submission.assignment], templates[submission.assignment].name,
                submission.student, submission.assignment, submission.path.read_bytes(),
                submission.note, known[submission.assignment], limits, sandbox, pure=False,
                key=f"autograde-{index}-{submission.student}-{submission.assignment}-"
                    f"{workdir.name}")
            futures[future] = index
        for future in as_completed(futures):
            index = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 (that student's internal error)
                outcome = exc
            # Received: release it before yielding (the caller may take its time, or a worker
            # may die, meanwhile), since Dask recomputes a lost result that is still wanted, and
            # would grade this student again on a surviving worker, for nothing.
            future.release()
            if isinstance(outcome, BaseException):
                yield index, outcome
                continue
            record, archive = outcome
            result = runner.Result(**record)
            if archive:
                result.folder = workdir / f"{runner.safe_name(result.student)}--{result.assignment}"
                _unpack(archive, result.folder)
            yield index, result
    finally:
        client.close()
