"""Grading processes, the grader's side: start one, give it jobs, stop it.

A :class:`Worker` is one ``python -m course_utils.grading.child`` process (:mod:`.child`), spoken
to only through :mod:`.protocol`: a :class:`.protocol.Job` in, a :class:`.protocol.Outcome` out.
A long-lived worker imports nbgrader once and keeps a spare kernel (sandboxed, TensorFlow already
imported) booting for the next student while the current one is graded; a one-shot worker
(``once``) does one job and exits. Its :class:`.judge.Server` judges the judged test cells of the
students it graded. Each student gets a kernel of its own and a private course folder
(:func:`.runner.grade`). The job's limits hold either way: past ``notebook_timeout`` seconds, or
when the worker and the student's kernel together hold more than ``memory_limit`` bytes (the
spare kernel is not counted), the worker and its kernels are killed, the student gets the reason,
and the next job starts a new worker.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from . import judge, processes, protocol

__all__ = ["Worker", "Pool"]


class Worker:
    """One grading process (:mod:`.child`), for many jobs or, with ``once``, for one; not
    thread-safe (one job at a time)."""

    def __init__(self, once: bool = False) -> None:
        self.once = once
        self._proc: subprocess.Popen | None = None
        self._home = tempfile.mkdtemp(prefix="course-worker-")
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self.judge = judge.Server()  # judges this worker's students' judged test cells

    def _start(self) -> subprocess.Popen:
        self._log.seek(0)
        self._log.truncate()
        return subprocess.Popen([sys.executable, "-m", processes.CHILD, "--boxes", self._home,
                                 *(["--once"] if self.once else [])], cwd=self._home,
                                env=processes.kernel_env(), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1)

    def run(self, job: protocol.Job) -> protocol.Outcome:
        """Have the grading process do ``job`` within ``job.limits`` and say how it ended.

        Returns:
            The grading process's :class:`.protocol.Outcome`, or one made here: ``stopped``
            ("time" or "memory", and ``error`` "stopped (time)") when it was killed, ``error``
            with its exit status and last log line when it died.
        """
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        deadline = time.monotonic() + job.limits.notebook_timeout
        spare = None
        try:
            protocol.send(proc.stdin, job)
        except BrokenPipeError:
            pass  # it died: reported below, from its exit status and log
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while True:
                stopped = processes.over_limit(proc.pid, deadline, job.limits.memory_limit,
                                               spare)
                if stopped:
                    self.close(kill=True)
                    return protocol.Outcome(False, error=f"stopped ({stopped})",
                                            stopped=stopped)
                if not selector.select(timeout=0.5):
                    continue
                line = proc.stdout.readline()
                if not line:  # the grading process died (a crash in nbgrader, or killed)
                    proc.wait()
                    self._proc = None
                    self._log.seek(0)
                    return protocol.Outcome(False, error=(
                        f"the grading process ended (exit {proc.returncode}): "
                        f"{processes.last_line(self._log.read())}"))
                message = protocol.receive(line)
                if isinstance(message, protocol.Outcome):
                    if self.once:
                        self.close()
                    return message
                spare = message.pid

    def close(self, kill: bool = False) -> None:
        """Stop the worker: at the end of its input, or at once (its kernels with it)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            if not kill:
                proc.stdin.close()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    kill = True
            if kill:
                processes.kill_tree(proc.pid)
                proc.wait()
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def shutdown(self) -> None:
        """Stop the worker for good and remove its folders."""
        self.close()
        self.judge.close()
        self._log.close()
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


class Pool:
    """Workers lent to one thread at a time: an idle one, or a new one when none is idle (so a
    pool used by N threads holds at most N workers)."""

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._made: list[Worker] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self):
        """Lend a worker for the ``with`` block, then take it back."""
        try:
            worker = self._idle.get_nowait()
        except queue.Empty:
            worker = Worker()
            with self._lock:
                self._made.append(worker)
        try:
            yield worker
        finally:
            self._idle.put(worker)

    def shutdown(self) -> None:
        """Stop every worker the pool made."""
        with self._lock:
            made, self._made = self._made, []
        for worker in made:
            worker.shutdown()

