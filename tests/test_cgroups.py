"""The grading kernel's process limit: a ``pids`` cgroup holds where ``prlimit`` does not (root)."""

from __future__ import annotations

import os
import subprocess

import pytest
from jupyter_core.utils import run_sync

from course_utils.grading import cgroups, preflight, sandbox

pytestmark = pytest.mark.grading

# Starts threads (each one counts as a process) until the system refuses, then prints how many.
START_THREADS = """
import threading
stop, started = threading.Event(), 0
for _ in range({tries}):
    try:
        threading.Thread(target=stop.wait, daemon=True).start()
    except RuntimeError:
        break
    started += 1
stop.set()
print("started", started)
"""


def _make_or_skip(limit: int):
    folder = cgroups.make(limit)
    if folder is None:
        pytest.skip("this machine does not let the grader create a pids cgroup")
    return folder


def test_a_cgroup_limits_the_processes_of_what_it_runs_and_is_removed():
    folder = _make_or_skip(16)
    script = START_THREADS.format(tries=100)
    done = subprocess.run(cgroups.join_command(folder, ["python3", "-c", script]),
                          capture_output=True, text=True, timeout=60)
    cgroups.remove(folder)
    assert done.returncode == 0, done.stderr
    started = int(done.stdout.split()[-1])
    assert 0 < started < 16, done.stdout  # without the cgroup, all 100 start
    assert not folder.exists()


def test_remove_kills_what_is_left_in_the_cgroup():
    folder = _make_or_skip(16)
    sleeper = subprocess.Popen(cgroups.join_command(folder, ["sleep", "600"]))
    try:
        for _ in range(100):  # the shell moves itself in, then execs sleep
            if str(sleeper.pid) in (folder / "cgroup.procs").read_text().split():
                break
            subprocess.run(["sleep", "0.05"])
        cgroups.remove(folder)
        assert sleeper.wait(timeout=10) == -9
        assert not folder.exists()
    finally:
        sleeper.kill()


def test_a_sandboxed_kernel_cannot_start_more_processes_than_its_limit(tmp_path, monkeypatch):
    if preflight.unavailable_reason():
        pytest.skip(preflight.unavailable_reason())
    if os.geteuid() == 0:
        cgroups.remove(_make_or_skip(8))  # as root only the cgroup limits processes
    monkeypatch.setattr(sandbox, "PROCESSES", 64)
    manager = sandbox.SandboxedKernelManager(kernel_name="python3")
    run_sync(manager.start_kernel)(cwd=str(tmp_path))
    client = manager.client()
    try:
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=60)
        printed = []
        run_sync(client.execute_interactive)(
            START_THREADS.format(tries=500), timeout=60,
            output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
    finally:
        client.stop_channels()
        run_sync(manager.shutdown_kernel)(now=True)
    started = int("".join(printed).split()[-1])
    assert 0 < started < 64, printed  # the kernel's own threads count too


def test_a_cgroup_left_by_a_killed_grader_is_removed_by_the_next_one():
    folder = _make_or_skip(16)
    cgroups.remove(folder)
    orphan = folder.parent / f"{cgroups.PREFIX}{2**22 + 1}-dead"  # above Linux's largest pid
    orphan.mkdir()
    alive = folder.parent / f"{cgroups.PREFIX}{os.getpid()}-alive"
    alive.mkdir()
    try:
        cgroups.remove(_make_or_skip(16))
        assert not orphan.exists()
        assert alive.exists()  # its grader is still running
    finally:
        for leftover in (orphan, alive):
            if leftover.exists():
                leftover.rmdir()
