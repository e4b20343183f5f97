"""A process-count cgroup for one grading kernel, where the grader may create one.

``prlimit --nproc`` (:mod:`.sandbox`) counts the processes of a *user*, and Linux does not enforce
it for root: a grader running as root (a container, a CI machine) would let a kernel start
processes without bound. A ``pids`` cgroup counts the processes *in the group*, whoever owns them.
:func:`make` creates one below the grader's own cgroup (cgroup v1's ``pids`` hierarchy, or cgroup
v2 where the ``pids`` controller is delegated there), :func:`join_command` starts a command inside
it, and :func:`remove` kills what is left in it and deletes it. A cgroup's name carries the
process id of the grader that made it, so that one left behind by a grader that was killed (over
its time or memory limit) is deleted by the next :func:`make` once it is empty. Where no cgroup
can be created (no rights, no delegation, not Linux) :func:`make` returns None and the
``prlimit`` limit alone applies, as the README's sandbox section says.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

__all__ = ["make", "join_command", "remove"]

ROOT = Path("/sys/fs/cgroup")
PREFIX = "course-kernel-"  # then the grader's process id and a random part


def _own_pids_cgroup() -> Path | None:
    """The folder of this process's cgroup that the ``pids`` controller governs, if any."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:  # "ID:CONTROLLERS:PATH"; cgroup v2's line is "0::PATH"
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            return ROOT / "pids" / path.lstrip("/")
        if controllers == "" and (ROOT / "cgroup.controllers").is_file():
            return ROOT / path.lstrip("/")
    return None


def make(max_pids: int) -> Path | None:
    """A new ``pids`` cgroup allowing at most ``max_pids`` processes and threads, or None.

    Args:
        max_pids: the limit written to its ``pids.max``.

    Returns:
        The cgroup's folder, or None when this machine does not let the grader create one.
    """
    parent = _own_pids_cgroup()
    if parent is None:
        return None
    _remove_orphans(parent)
    folder = parent / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir()
    except OSError:
        return None
    try:
        (folder / "pids.max").write_text(str(max_pids))  # missing: pids not delegated here
        return folder
    except OSError:
        remove(folder)
        return None


def _remove_orphans(parent: Path) -> None:
    """Delete the empty cgroups under ``parent`` whose grader process is gone."""
    for folder in parent.glob(f"{PREFIX}*"):
        owner = folder.name[len(PREFIX):].split("-")[0]
        try:
            os.kill(int(owner), 0)  # still running: its cgroups are in use
        except ProcessLookupError:
            try:
                folder.rmdir()  # fails while processes are still in it
            except OSError:
                pass
        except (ValueError, PermissionError):
            pass


def join_command(folder: Path, command: list[str]) -> list[str]:
    """``command``, started by a shell that first moves itself into the cgroup ``folder``."""
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(folder / "cgroup.procs"),
            *command]


def remove(folder: Path, wait: float = 5.0) -> None:
    """Kill every process left in the cgroup ``folder`` and delete it (quietly, best effort).

    Args:
        folder: a cgroup made by :func:`make`.
        wait: seconds to wait for the killed processes to be gone before giving up.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # busy while the killed processes exit
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
