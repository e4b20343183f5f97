"""Long-lived grading workers, the parent's side: start one, give it students, stop it.

A :class:`Worker` is one ``python -m course_utils.grading.child serve`` process (:mod:`.child`):
nbgrader is imported once, and a spare kernel (sandboxed, TensorFlow already imported) boots for
the next student while the current one is graded; its :class:`.judge.Server` judges the judged
test cells of the students it graded. Each student still gets a kernel of its own
and a private course folder (:func:`.runner.grade`). The limits are the same as for a process of
its own: past ``timeout`` seconds, or when the worker and the student's kernel together hold more
than ``memory_limit`` bytes (the spare kernel is not counted), the worker and its kernels are
killed, the student gets the reason, and the next student starts a new worker.
"""

from __future__ import annotations

import contextlib
import json
import queue
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from . import judge, processes

__all__ = ["Worker", "Pool"]


class Worker:
    """One long-lived grading process; not thread-safe (one student at a time).

    Args:
        sandbox: run kernels in the bubblewrap sandbox.
    """

    def __init__(self, sandbox: bool = True) -> None:
        self.sandbox = sandbox
        self._proc: subprocess.Popen | None = None
        self._home = tempfile.mkdtemp(prefix="course-worker-")
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self.judge = judge.Server()  # judges this worker's students' judged test cells

    def _start(self) -> subprocess.Popen:
        env = {**processes.kernel_env(), "COURSE_SANDBOX": "1" if self.sandbox else "0",
               "COURSE_SANDBOX_PARENT": self._home}
        self._log.seek(0)
        self._log.truncate()
        return subprocess.Popen([sys.executable, "-m", processes.CHILD, "serve"], cwd=self._home,
                                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=self._log, text=True, bufsize=1)

    def run(self, job: dict, timeout: float, memory_limit: int) -> processes.ChildRun:
        """Have the worker autograde one prepared student folder (see :mod:`.child`).

        Returns:
            How it ended: ``returncode`` 0 when the worker finished the job (``result.json`` in
            the folder says how nbgrader did), else the worker's exit status and log, or
            ``stopped`` ("time" or "memory") when it was killed.
        """
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        deadline = time.monotonic() + timeout
        spare = None
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died: reported below, from its exit status and log
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while True:
                stopped = processes.over_limit(proc.pid, deadline, memory_limit, spare)
                if stopped:
                    self.close(kill=True)
                    return processes.ChildRun(None, "", stopped)
                if not selector.select(timeout=0.5):
                    continue
                line = proc.stdout.readline()
                if not line:  # the worker died (a crash in nbgrader, or killed)
                    proc.wait()
                    self._proc = None
                    self._log.seek(0)
                    return processes.ChildRun(proc.returncode, self._log.read())
                reply = json.loads(line)
                if reply.get("done"):
                    return processes.ChildRun(0, "")
                spare = reply.get("spare")

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

    def __init__(self, sandbox: bool = True) -> None:
        self.sandbox = sandbox
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._made: list[Worker] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self):
        """Lend a worker for the ``with`` block, then take it back."""
        try:
            worker = self._idle.get_nowait()
        except queue.Empty:
            worker = Worker(self.sandbox)
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
