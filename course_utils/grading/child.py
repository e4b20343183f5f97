"""The grading process's side: run nbgrader, or a notebook, where the grader tells it to.

The grader (:mod:`.runner`, :mod:`.workers`) starts this module in a child process, so that
nbgrader, a dying kernel or a runaway notebook can only end that process. Two ways:

* one command, then exit: ``python -m course_utils.grading.child COMMAND ...`` with
  ``generate_assignment ROOT ASSIGNMENT``, ``autograde ROOT ASSIGNMENT STUDENT CELL_TIMEOUT
  NOTEBOOK_TIMEOUT`` (each writes ``ROOT/result.json``) or ``execute SOURCE TARGET CELL_TIMEOUT``
  (the feedback run);
* ``serve``: a long-lived worker that keeps nbgrader imported and reads one JSON job a line on
  stdin (``root``, ``assignment``, ``student``, ``cell_timeout``, ``notebook_timeout``,
  ``files``, ``preload``),
  autogrades it like ``autograde`` and answers on stdout. It keeps one spare kernel booting (see
  :class:`Spares`) while it grades, so the next student's kernel has already imported
  TensorFlow; every kernel serves exactly one student and is then shut down.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["GUARD_REPORT", "KEPT", "Spares", "run_nbgrader", "execute_notebook", "serve"]

GUARD_REPORT = "guard.json"  # the test guard's findings, written outside the sandbox
KEPT = "kept"  # the models the kernel saved, copied out of its sandbox for the judge (.judge)
HISTORY = ["--HistoryManager.hist_file=:memory:"]  # what nbclient passes to IPython kernels


def run_nbgrader(command: str, root: Path, assignment: str, student: str | None = None,
                 cell_timeout: int = 120, notebook_timeout: int | None = None) -> dict:
    """Run an nbgrader command through its Python API in ``root``.

    ``notebook_timeout`` (the grader's limit for the whole notebook, which it enforces by
    killing this process) also bounds how long a cell's output may take to arrive once the cell
    has ended or been interrupted (nbclient's ``iopub_timeout``); None keeps nbclient's 4 s.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from .course import SOURCE
    from .judge import judged_cells, sent_names

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    overrides = Config()
    overrides.CourseDirectory.root = str(root)
    overrides.Execute.timeout = cell_timeout
    if notebook_timeout is not None:
        # After a cell's reply nbclient waits iopub_timeout s for the rest of its output, and
        # nbgrader (raise_on_iopub_timeout) fails the whole notebook when it runs out. After a
        # cell that prints in a loop is interrupted at the cell timeout, that rest is what the
        # kernel printed but this process has not read yet: tens of MB, which a loaded machine
        # reads in more than nbclient's 4 s (and in more than the cell timeout), so an endless
        # loop was reported as "nbgrader could not grade" instead of a timed-out cell. Reading
        # it is progress, not a hang: only the notebook's own limit bounds it.
        overrides.Execute.iopub_timeout = notebook_timeout
    overrides.GuardedExecute.sandbox = os.environ.get("COURSE_SANDBOX") == "1"
    overrides.GuardedExecute.report = str(root / GUARD_REPORT)
    overrides.GuardedExecute.keep = str(root / KEPT)
    sources = sorted((root / SOURCE / assignment).glob("*.ipynb"))
    # from the template's source, not the submission
    overrides.GuardedExecute.judged = [gid for source in sources for gid in judged_cells(source)]
    overrides.GuardedExecute.sends = sorted({name for source in sources
                                             for names in sent_names(source).values()
                                             for name in names})
    if os.environ.get("COURSE_GRADEBOOK"):
        overrides.CourseDirectory.db_url = f"sqlite:///{os.environ['COURSE_GRADEBOOK']}"
    config.merge(overrides)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    if command == "generate_assignment":
        return api.generate_assignment(assignment, force=True)
    if command == "autograde":
        return api.autograde(assignment, student, force=True, create=True)
    if command == "generate_feedback":
        return api.generate_feedback(assignment, student, force=True)
    raise ValueError(f"unknown nbgrader command {command!r}")


def execute_notebook(source: Path, target: Path, cell_timeout: int, sandbox: bool) -> None:
    """Run ``source`` in a fresh (sandboxed) kernel, errors allowed, and write ``target``."""
    import nbformat
    from nbclient import NotebookClient

    from .sandbox import GuardedKernelManager, SandboxedKernelManager

    nb = nbformat.read(source, as_version=4)
    NotebookClient(nb, timeout=cell_timeout, allow_errors=True, kernel_name="python3",
                   interrupt_on_timeout=True,
                   kernel_manager_class=SandboxedKernelManager if sandbox else
                   GuardedKernelManager,
                   resources={"metadata": {"path": str(source.parent)}}).execute()
    nbformat.write(nb, target)


def _autograde(root: Path, assignment: str, student: str, cell_timeout: int,
               notebook_timeout: int) -> None:
    """Autograde one student in ``root`` and write ``root/result.json``."""
    home = os.getcwd()  # the parent removes root afterwards: a worker must not stay in it
    os.chdir(root)
    try:
        outcome = run_nbgrader("autograde", root, assignment, student, cell_timeout,
                               notebook_timeout)
    except Exception as exc:  # reported to the parent, which gives the student a reason
        outcome = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        os.chdir(home)
    (root / "result.json").write_text(json.dumps(outcome, default=str))


class Spares:
    """Pre-started grading kernels: one booting for the next student while this one is graded.

    A kernel is started with the assignment's files (``files``: the source folder; notebooks are
    never copied) and imports ``preload`` (comma-separated modules, e.g. ``tensorflow,keras``)
    before the test guard's snapshot (:mod:`.kernel`). :meth:`take` hands out a kernel that no
    code has run in and starts the next one; each kernel is used once.
    """

    def __init__(self, sandbox: bool) -> None:
        self.sandbox = sandbox
        self._next: tuple[tuple[str, str], object] | None = None
        self._folders: dict[int, Path] = {}  # id(manager) -> its private folder (no sandbox)

    def take(self, files: Path, preload: str):
        """A started kernel manager for ``files``/``preload``; the next one starts booting."""
        key = (str(files), preload)
        if self._next is not None and self._next[0] == key:
            manager = self._next[1]
        else:
            self.discard()
            manager = self._start(files, preload)
        self._next = (key, self._start(files, preload))
        return manager

    def spare_pid(self) -> int | None:
        """The process id of the kernel booting for the next student (None when none is)."""
        provisioner = getattr(self._next[1], "provisioner", None) if self._next else None
        return getattr(provisioner, "pid", None)

    def _start(self, files: Path, preload: str):
        from jupyter_core.utils import run_sync

        from .sandbox import GuardedKernelManager, SandboxedKernelManager, copy_assignment_files

        env = {**os.environ, "COURSE_KERNEL_PRELOAD": preload,
               "NBGRADER_EXECUTION": "autograde"}  # what nbgrader sets around its own start
        if self.sandbox:  # the manager copies the files into its sandbox
            manager, cwd = SandboxedKernelManager(kernel_name="python3"), files
        else:  # a private copy, so that nothing a student writes reaches the next one
            cwd = Path(tempfile.mkdtemp(prefix="kernel-")) / "work"
            copy_assignment_files(files, cwd)
            manager = GuardedKernelManager(kernel_name="python3")
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


def serve() -> int:
    """The long-lived worker loop (see the module docstring); returns at end of input."""
    from . import execute

    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything else printed goes to the log
    spares = Spares(sandbox=os.environ.get("COURSE_SANDBOX") == "1")
    try:
        for line in sys.stdin:
            job = json.loads(line)
            manager = spares.take(Path(job["files"]), job["preload"])
            replies.write(json.dumps({"started": True, "spare": spares.spare_pid()}) + "\n")
            execute.PRESTARTED[:] = [manager]
            try:
                _autograde(Path(job["root"]), job["assignment"], job["student"],
                           int(job["cell_timeout"]), int(job["notebook_timeout"]))
            finally:
                execute.PRESTARTED.clear()
                spares.stop(manager)
            replies.write(json.dumps({"done": True}) + "\n")
    finally:
        spares.discard()
    return 0


def _main(argv: list[str]) -> int:
    if argv[0] == "serve":
        return serve()
    if argv[0] == "execute":  # execute SOURCE TARGET CELL_TIMEOUT (the feedback run)
        try:
            execute_notebook(Path(argv[1]), Path(argv[2]), int(argv[3]),
                             os.environ.get("COURSE_SANDBOX") == "1")
        except Exception as exc:  # reported to the parent through the exit status and log
            print(f"{type(exc).__name__}: {exc}")
            return 1
        return 0
    if argv[0] == "autograde":  # autograde ROOT ASSIGNMENT STUDENT CELL_TIMEOUT NOTEBOOK_TIMEOUT
        _autograde(Path(argv[1]), argv[2], argv[3], int(argv[4]), int(argv[5]))
    else:  # generate_assignment ROOT ASSIGNMENT
        root = Path(argv[1])
        os.chdir(root)
        try:
            outcome = run_nbgrader(argv[0], root, argv[2])
        except Exception as exc:  # reported to the parent
            outcome = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
        (root / "result.json").write_text(json.dumps(outcome, default=str))
    outcome = json.loads((Path(argv[1]) / "result.json").read_text())
    return 0 if outcome.get("success") else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
