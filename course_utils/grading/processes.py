"""Grading processes, the plumbing: their environment, their limits, killing their trees.

A leaf of :mod:`course_utils.grading` (it imports nothing from the course): :func:`run_child`
runs ``python -m course_utils.grading.child ...`` once under a time and a memory limit;
:mod:`.workers` keeps such a process alive for many students with the same limits.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

from ..errors import CourseError

__all__ = ["CHILD", "MEMORY_LIMIT", "ChildRun", "asserts_enabled_or_refuse", "ensure_tools_on_path",
           "kernel_env", "kill_tree", "tree_rss", "over_limit", "run_child"]

CHILD = "course_utils.grading.child"  # the module grading processes run
MEMORY_LIMIT = 6 * 2**30  # bytes for one student's grading process tree (kernel included)


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


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and all its descendants."""
    import psutil

    for process in _family(pid):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def tree_rss(pid: int, leave_out: int | None = None) -> int:
    """Resident memory of ``pid``'s process tree, without ``leave_out``'s tree."""
    import psutil

    skip = {p.pid for p in _family(leave_out)} if leave_out else set()
    total = 0
    for process in _family(pid):
        if process.pid in skip:
            continue
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def over_limit(pid: int, deadline: float, memory_limit: int,
               leave_out: int | None = None) -> str | None:
    """"time" past ``deadline`` (``time.monotonic()``), "memory" when ``pid``'s tree (without
    ``leave_out``'s) holds more than ``memory_limit`` bytes, else None."""
    if time.monotonic() > deadline:
        return "time"
    if tree_rss(pid, leave_out) > memory_limit:
        return "memory"
    return None


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
        proc = subprocess.Popen([sys.executable, "-m", CHILD, *args], cwd=cwd,
                                env={**kernel_env(), **(extra_env or {})},
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        stopped = None
        while proc.poll() is None:
            stopped = over_limit(proc.pid, deadline, memory_limit)
            if stopped:
                kill_tree(proc.pid)
                break
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        proc.wait()
        log.seek(0)
        return ChildRun(None if stopped else proc.returncode, log.read(), stopped)


def asserts_enabled_or_refuse() -> None:
    """The canary: refuse to grade when ``assert`` would be skipped.

    Raises:
        CourseError: PYTHONOPTIMIZE is set, Python runs with -O, or a kernel-environment Python
            does not fail ``assert False``. Every test cell would pass otherwise.
    """
    why = None
    if os.environ.get("PYTHONOPTIMIZE"):
        why = f"PYTHONOPTIMIZE={os.environ['PYTHONOPTIMIZE']} is set"
    elif sys.flags.optimize:
        why = "Python runs with -O"
    elif subprocess.run([sys.executable, "-c", "assert False"], env=kernel_env(),
                        capture_output=True).returncode == 0:
        why = "a grading Python ignores assert statements"
    if why:
        raise CourseError(f"refusing to grade: {why}, so assert statements in test cells would "
                          "be skipped and every answer would pass. Unset PYTHONOPTIMIZE / drop -O "
                          "and run again")
