"""The grading process's side: do the grader's jobs and say how each ended.

The grader (:mod:`.workers`) starts ``python -m course_utils.grading.child`` in a process of its
own, so that nbgrader, a dying kernel or a runaway notebook can only end that process. It reads
one :class:`.protocol.Job` a line on stdin and answers on stdout (:mod:`.protocol`): a ``Spare``
line once an ``autograde`` job has its kernel, then the job's ``Outcome``, which this side
classifies itself (nbgrader's result, the test guard's report, a dead kernel, timed-out cells).
It keeps nbgrader imported between jobs and one spare kernel booting (see :class:`Spares`), so
the next student's kernel has already imported TensorFlow; every kernel serves exactly one
student and is then shut down. With ``--once`` it does one job, with no spare kernel, and exits:
the grader's one-shot run (``course autograde --cold``, templates, feedback). With ``--boxes
DIR`` its sandboxes' folders go in DIR (the worker's own folder, removed with it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import protocol
from .processes import last_line
from .protocol import Job, Outcome

__all__ = ["GUARD_REPORT", "KEPT", "Spares", "run_nbgrader", "execute_notebook", "serve"]

GUARD_REPORT = "guard.json"  # the test guard's findings, written and read in this process
KEPT = "kept"  # the models the kernel saved, copied out of its sandbox for the judge (.judge)
HISTORY = ["--HistoryManager.hist_file=:memory:"]  # what nbclient passes to IPython kernels
DIED = ("the kernel died while running the notebook (os._exit(), a crash or running out of "
        "memory)")


def run_nbgrader(command: str, root: Path, assignment: str, student: str | None = None,
                 limits: protocol.Limits | None = None, sandbox: bool = False) -> dict:
    """Run an nbgrader command through its Python API in ``root``.

    ``limits.notebook_timeout`` (the grader's limit for the whole notebook, which it enforces by
    killing this process) also bounds how long a cell's output may take to arrive once the cell
    has ended or been interrupted (nbclient's ``iopub_timeout``).
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from .course import SOURCE
    from .judge import judged_cells, sent_names
    from .replay import PLAN

    limits = limits or protocol.Limits()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    overrides = Config()
    overrides.CourseDirectory.root = str(root)
    overrides.Execute.timeout = limits.cell_timeout
    # After a cell's reply nbclient waits iopub_timeout s for the rest of its output, and
    # nbgrader (raise_on_iopub_timeout) fails the whole notebook when it runs out. After a
    # cell that prints in a loop is interrupted at the cell timeout, that rest is what the
    # kernel printed but this process has not read yet: tens of MB, which a loaded machine
    # reads in more than nbclient's 4 s (and in more than the cell timeout), so an endless
    # loop was reported as "nbgrader could not grade" instead of a timed-out cell. Reading
    # it is progress, not a hang: only the notebook's own limit bounds it.
    overrides.Execute.iopub_timeout = limits.notebook_timeout
    overrides.GuardedExecute.sandbox = sandbox
    overrides.GuardedExecute.report = str(root / GUARD_REPORT)
    overrides.GuardedExecute.keep = str(root / KEPT)
    sources = sorted((root / SOURCE / assignment).glob("*.ipynb"))
    # from the template's source, not the submission
    overrides.GuardedExecute.judged = [gid for source in sources for gid in judged_cells(source)]
    overrides.GuardedExecute.planned = [source.stem for source in sources
                                        if (source.parent / PLAN / source.stem / "plan.json")
                                        .is_file()]
    overrides.GuardedExecute.sends = sorted({name for source in sources
                                             for names in sent_names(source).values()
                                             for name in names})
    config.merge(overrides)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    if command == "generate_assignment":
        return api.generate_assignment(assignment, force=True)
    if command == "autograde":
        return api.autograde(assignment, student, force=True, create=True)
    if command == "generate_feedback":
        return api.generate_feedback(assignment, student, force=True)
    raise ValueError(f"unknown nbgrader command {command!r}")


def execute_notebook(path: Path, cell_timeout: int, sandbox: bool) -> None:
    """Run the notebook ``path`` in a fresh (sandboxed) kernel, errors allowed, and write it
    back; its folder holds the kernel's files."""
    import nbformat
    from nbclient import NotebookClient

    from .sandbox import manager_class

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=cell_timeout, allow_errors=True, kernel_name="python3",
                   interrupt_on_timeout=True, kernel_manager_class=manager_class(sandbox),
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)


def _nbgrader(command: str, job: Job) -> dict:
    """nbgrader's result for ``command`` on ``job``: ``success`` and, when false, ``error``/
    ``log``; an exception in nbgrader is its ``error``."""
    root = Path(job.root)
    home = os.getcwd()  # the grader removes root afterwards: a worker must not stay in it
    os.chdir(root)
    try:
        return run_nbgrader(command, root, job.assignment, job.student or None, job.limits,
                            job.sandbox)
    except Exception as exc:  # noqa: BLE001 (the job's outcome: the grader gives the reason)
        return {"success": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        os.chdir(home)


def _generate(job: Job) -> Outcome:
    result = _nbgrader("generate_assignment", job)
    if result.get("success"):
        return Outcome(True)
    return Outcome(False, error=last_line(result.get("error") or result.get("log")))


def _autograde(job: Job) -> Outcome:
    """Autograde one student in the private course ``job.root`` and classify the run.

    The test guard (:class:`.execute.GuardedExecute`, in this process) writes its report as the
    notebook's run ends, however it ends; no report means it did not guard the run.
    """
    report = Path(job.root) / GUARD_REPORT
    report.unlink(missing_ok=True)
    result = _nbgrader("autograde", job)
    try:
        guard = json.loads(report.read_text())
    except (OSError, ValueError):
        guard = None
    graded = Path(job.root) / "autograded" / job.student / job.assignment
    if isinstance(guard, dict) and guard.get("dead_kernel"):
        return Outcome(False, error=f"{DIED}, so it could not be graded", dead_kernel=True)
    if not result.get("success") or not any(graded.glob("*.ipynb")):
        why = last_line(result.get("error") or result.get("log"))
        return Outcome(False, error=f"nbgrader could not grade the notebook: {why}")
    if not isinstance(guard, dict):
        return Outcome(False, error="internal error: the test guard left no report (does "
                       "nbgrader_config.py run course_utils.grading.execute.GuardedExecute?); "
                       "score withheld")
    return Outcome(True, tampering=list(guard["tampering"]),
                   timed_out_cells=list(guard["timed_out"]))


def _execute(job: Job) -> Outcome:
    from nbclient.exceptions import DeadKernelError

    try:
        execute_notebook(Path(job.root), job.limits.cell_timeout, job.sandbox)
    except DeadKernelError:
        return Outcome(False, error=DIED, dead_kernel=True)
    except Exception as exc:  # noqa: BLE001 (the job's outcome)
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")
    return Outcome(True)


class Spares:
    """Pre-started grading kernels: one booting for the next student while this one is graded.

    A kernel is started with the assignment's files (``files``: the source folder; notebooks are
    never copied), in the sandbox or not (``sandbox``), and imports ``preload`` (comma-separated
    modules, e.g. ``tensorflow,keras``) before the test guard's snapshot (:mod:`.kernel`).
    :meth:`take` hands out a kernel that no code has run in and, with ``spare``, starts the next
    one; each kernel is used once.
    """

    def __init__(self, spare: bool = True) -> None:
        self.spare = spare
        self._next: tuple[tuple[str, str, bool], object] | None = None
        self._folders: dict[int, Path] = {}  # id(manager) -> its private folder (no sandbox)

    def take(self, files: Path, preload: str, sandbox: bool):
        """A started kernel manager for ``files``/``preload``/``sandbox``; the next one starts
        booting."""
        key = (str(files), preload, sandbox)
        if self._next is not None and self._next[0] == key:
            manager = self._next[1]
            self._next = None
        else:
            self.discard()
            manager = self._start(*key)
        if self.spare:
            self._next = (key, self._start(*key))
        return manager

    def spare_pid(self) -> int | None:
        """The process id of the kernel booting for the next student (None when none is)."""
        provisioner = getattr(self._next[1], "provisioner", None) if self._next else None
        return getattr(provisioner, "pid", None)

    def _start(self, files: str, preload: str, sandbox: bool):
        from jupyter_core.utils import run_sync

        from .sandbox import copy_assignment_files, manager_class

        env = {**os.environ, "COURSE_KERNEL_PRELOAD": preload,
               "NBGRADER_EXECUTION": "autograde"}  # what nbgrader sets around its own start
        manager = manager_class(sandbox)(kernel_name="python3")
        if sandbox:  # the manager copies the files into its sandbox
            cwd = Path(files)
        else:  # a private copy, so that nothing a student writes reaches the next one
            cwd = Path(tempfile.mkdtemp(prefix="kernel-")) / "work"
            copy_assignment_files(Path(files), cwd)
            self._folders[id(manager)] = cwd.parent
        run_sync(manager.start_kernel)(cwd=str(cwd), env=env, extra_arguments=HISTORY)
        return manager

    def stop(self, manager) -> None:
        """Shut a kernel down (a dead one too) and remove its folders."""
        from jupyter_core.utils import run_sync

        try:
            run_sync(manager.shutdown_kernel)(now=True)
        except RuntimeError:  # "No kernel is running!": it died with the student's code
            run_sync(manager.cleanup_resources)()
        folder = self._folders.pop(id(manager), None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def discard(self) -> None:
        """Stop the spare kernel, if any."""
        if self._next is not None:
            self.stop(self._next[1])
            self._next = None


def serve(once: bool = False, boxes: str | None = None) -> int:
    """The grading process's loop (see the module docstring); returns at the end of its input,
    or after one job with ``once``. Sandboxes are made in ``boxes`` (None: the system's
    temporary folder)."""
    from . import execute
    from .sandbox import SandboxedKernelManager

    SandboxedKernelManager.boxes = boxes

    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything else printed goes to the log
    spares = Spares(spare=not once)
    try:
        for line in sys.stdin:
            job = protocol.receive(line)
            if not isinstance(job, Job):
                raise ValueError(f"expected a Job, got {type(job).__name__}")
            if job.kind == "generate":
                outcome = _generate(job)
            elif job.kind == "execute":
                outcome = _execute(job)
            else:
                manager = spares.take(Path(job.files), job.preload, job.sandbox)
                protocol.send(replies, protocol.Spare(spares.spare_pid()))
                execute.PRESTARTED[:] = [manager]
                try:
                    outcome = _autograde(job)
                finally:
                    execute.PRESTARTED.clear()
                    spares.stop(manager)
            protocol.send(replies, outcome)
            if once:
                break
    finally:
        spares.discard()
    return 0


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_utils.grading.child")
    parser.add_argument("--once", action="store_true", help="do one job, then exit")
    parser.add_argument("--boxes", help="the folder the sandboxes are made in")
    args = parser.parse_args(argv)
    return serve(once=args.once, boxes=args.boxes)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
