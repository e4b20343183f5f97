"""Grading processes, the plumbing: their environment, their limits, killing their trees.

A leaf of :mod:`course_utils.grading` (it imports nothing from the course):
:mod:`.workers` starts ``python -m course_utils.grading.child`` (:data:`CHILD`) with
:func:`kernel_env` and watches its tree with :func:`over_limit`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

__all__ = ["CHILD", "kernel_env", "kill_tree", "tree_rss", "over_limit", "last_line"]

CHILD = "course_utils.grading.child"  # the module grading processes run


def kernel_env() -> dict[str, str]:
    """Environment for grading processes and their kernels: asserts on, logs quiet."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONOPTIMIZE"}
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore", MPLBACKEND="Agg",
               GRPC_VERBOSITY="ERROR", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


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


def last_line(text: str | None) -> str:
    """The last non-empty line of a log or message, at most 300 characters."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
