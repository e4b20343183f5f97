"""Grade one student in its own process and its own private course folder.

The parent (:func:`grade`) copies a per-assignment template course (source, release and a
gradebook made by ``nbgrader generate_assignment``), repairs the submission into it and starts
``python -m course_utils.grading.runner autograde ...``, which runs nbgrader's own autograde.
A crash, a dead kernel or a runaway notebook therefore ends that student's process only. Limits:
:data:`CELL_TIMEOUT` per cell (nbgrader's ``Execute.timeout``, set in nbgrader_config.py) and
:data:`NOTEBOOK_TIMEOUT` for the whole notebook, enforced here by killing the process tree.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .course import SOURCE
from .repair import SubmissionError, repair_file

__all__ = ["CELL_TIMEOUT", "NOTEBOOK_TIMEOUT", "MEMORY_LIMIT", "ChildRun", "Result", "kernel_env",
           "prepare_template", "grade", "execute_notebook", "run_nbgrader", "run_child",
           "ensure_tools_on_path"]

CELL_TIMEOUT = 120  # seconds per cell: sized for the exercises' training cells
NOTEBOOK_TIMEOUT = 300  # seconds for one student's whole notebook, kernel start included
GUARD_REPORT = "guard.json"  # the test guard's findings, written outside the sandbox
MEMORY_LIMIT = 6 * 2**30  # bytes for one student's grading process tree (kernel included)


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


def ensure_tools_on_path() -> None:
    """Put this Python's bin folder on PATH: nbgrader's Gradebook runs ``alembic`` from it."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def kernel_env() -> dict[str, str]:
    """Environment for grading processes and their kernels: asserts on, logs quiet."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONOPTIMIZE"}
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore", MPLBACKEND="Agg",
               GRPC_VERBOSITY="ERROR", COURSE_GRADING="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


@dataclasses.dataclass
class ChildRun:
    """How a grading process ended: its exit status and output, or why it was stopped."""

    returncode: int | None
    stdout: str
    stopped: str | None = None  # "time" or "memory" when it was killed


def _family(pid: int) -> list:
    """The process ``pid`` and all its descendants (empty once it is gone)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        return [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return []


def _kill_tree(pid: int) -> None:
    import psutil

    for process in _family(pid):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _tree_rss(pid: int) -> int:
    import psutil

    total = 0
    for process in _family(pid):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_child(args: list[str], cwd: Path, timeout: float,
              extra_env: dict[str, str] | None = None,
              memory_limit: int = MEMORY_LIMIT) -> ChildRun:
    """Run a grading process (and its kernel) under a time and a memory limit.

    Kernels have their own session (a process-group kill would miss them), so the whole
    process tree is watched: its resident memory is summed twice a second and the tree is
    killed above ``memory_limit`` bytes or after ``timeout`` seconds.
    """
    import tempfile

    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen([sys.executable, "-m", __name__, *args], cwd=cwd,
                                env={**kernel_env(), **(extra_env or {})},
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        stopped = None
        while proc.poll() is None:
            if time.monotonic() > deadline:
                stopped = "time"
            elif _tree_rss(proc.pid) > memory_limit:
                stopped = "memory"
            if stopped:
                _kill_tree(proc.pid)
                break
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        proc.wait()
        log.seek(0)
        return ChildRun(None if stopped else proc.returncode, log.read(), stopped)


def prepare_template(root: Path, assignment: str, workdir: Path) -> Path:
    """Make a private course with ``assignment``'s source, release and gradebook."""
    template = workdir / f"template-{assignment}"
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", template)
    shutil.copytree(root / SOURCE / assignment, template / SOURCE / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    done = run_child(["generate_assignment", str(template), assignment], template, NOTEBOOK_TIMEOUT)
    result = _read_result(template)
    if done.stopped or not result.get("success"):
        from ..errors import CourseError

        raise CourseError(f"nbgrader generate_assignment failed for {assignment}: "
                          f"{_last_line(result.get('error') or done.stdout)}")
    return template


def _read_result(folder: Path) -> dict:
    try:
        return json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return {}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _diagnose(log: str, returncode: int) -> str:
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log.lower():
        return ("the kernel died while running the notebook (os._exit(), a crash or running out "
                "of memory), so it could not be graded")
    return f"nbgrader could not grade the notebook: {_last_line(log)} (exit {returncode})"


def grade(template: Path, student: str, assignment: str, notebook: Path, stem: str,
          workdir: Path, cell_timeout: int = CELL_TIMEOUT,
          notebook_timeout: int = NOTEBOOK_TIMEOUT, sandbox: bool = True,
          memory_limit: int = MEMORY_LIMIT) -> Result:
    """Grade ``notebook`` for ``student``; never raises for a problem in the submission.

    The score is computed here, outside the sandbox, from the automatic scores of the scoring
    run; manual scores are never read from the private gradebook, and a submission the test
    guard found tampered with gets no score (``error`` says why).
    """
    start = time.perf_counter()
    folder = workdir / f"{_safe(student)}--{assignment}"
    result = Result(student, assignment, folder=folder)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(template, folder)
    try:
        result.notes = repair_file(notebook, template / SOURCE / assignment / f"{stem}.ipynb",
                                   folder / "submitted" / student / assignment / f"{stem}.ipynb")
    except SubmissionError as exc:
        result.error = str(exc)
        return result
    done = run_child(["autograde", str(folder), assignment, student, str(cell_timeout)], folder,
                     notebook_timeout, {"COURSE_SANDBOX": "1" if sandbox else "0",
                                        "COURSE_SANDBOX_PARENT": str(folder)}, memory_limit)
    result.seconds = time.perf_counter() - start
    if done.stopped == "time":
        result.error = (f"the notebook ran longer than {notebook_timeout} s in total (an endless "
                        "loop, or training for too long?) and was stopped")
        return result
    if done.stopped == "memory":
        result.error = (f"the notebook used more than {memory_limit / 2**30:g} GiB of memory and "
                        "was stopped (a very large array or model?)")
        return result
    outcome = _read_result(folder)
    graded = folder / "autograded" / student / assignment / f"{stem}.ipynb"
    log = (outcome.get("log") or "") + (outcome.get("error") or "") + done.stdout
    if not outcome.get("success") or not graded.exists():
        result.error = _diagnose(log, done.returncode)
        return result
    try:
        findings = json.loads((folder / GUARD_REPORT).read_text())["tampering"]
    except (OSError, ValueError, KeyError, TypeError):
        result.error = ("internal error: the test guard left no report (does nbgrader_config.py "
                        "run course_utils.grading.execute.GuardedExecute?); score withheld")
        return result
    if findings:
        result.error = f"tampering detected, score withheld: {findings[0]}"
        result.notes.extend(findings[1:])
        return result
    result.score, result.max_score, manual = _auto_scores(folder / "gradebook.db", assignment,
                                                          student)
    if manual:
        result.notes.append("needs manual grading (a cell could not be graded automatically)")
    text = graded.read_text(encoding="utf-8")
    if "CellTimeoutError" in text:
        result.notes.append(f"a cell ran longer than {cell_timeout} s and was interrupted")
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


def run_nbgrader(command: str, root: Path, assignment: str, student: str | None = None,
                 cell_timeout: int = CELL_TIMEOUT) -> dict:
    """Run an nbgrader command through its Python API in ``root`` (the child's side)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    overrides = Config()
    overrides.CourseDirectory.root = str(root)
    overrides.Execute.timeout = cell_timeout
    overrides.GuardedExecute.sandbox = os.environ.get("COURSE_SANDBOX") == "1"
    overrides.GuardedExecute.report = str(root / GUARD_REPORT)
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


def _main(argv: list[str]) -> int:
    if argv[0] == "execute":  # execute SOURCE TARGET CELL_TIMEOUT (the feedback run)
        try:
            execute_notebook(Path(argv[1]), Path(argv[2]), int(argv[3]),
                             os.environ.get("COURSE_SANDBOX") == "1")
        except Exception as exc:  # reported to the parent through the exit status and log
            print(f"{type(exc).__name__}: {exc}")
            return 1
        return 0
    command, root, assignment = argv[0], Path(argv[1]), argv[2]
    student = argv[3] if len(argv) > 3 else None
    timeout = int(argv[4]) if len(argv) > 4 else CELL_TIMEOUT
    os.chdir(root)
    try:
        outcome = run_nbgrader(command, root, assignment, student, timeout)
    except Exception as exc:  # reported to the parent, which gives the student a reason
        outcome = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
    (root / "result.json").write_text(json.dumps(outcome, default=str))
    return 0 if outcome.get("success") else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
