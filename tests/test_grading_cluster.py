"""``course autograde --scheduler``: grading on a Dask cluster, started here on 127.0.0.1.

A real ``dask scheduler`` and two ``dask worker`` processes (Dask's own commands, as an instructor
would start them) grade a mixed batch of the toy assignment; the results must equal grading on
this machine. Then one worker is killed mid-batch: every student must still be graded, once.
"""

from __future__ import annotations

import copy
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import toy_course

from course_utils import cli
from course_utils.grading import batch, cluster, gradebook

pytestmark = [pytest.mark.grading, pytest.mark.slow]
DASK = Path(sys.executable).parent / "dask"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return toy_course.make_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``(address, {name: worker process})``: a scheduler and workers a and b on 127.0.0.1."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    file = folder / "scheduler.json"
    log = open(folder / "dask.log", "w")
    scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", file],
                                 stdout=log, stderr=subprocess.STDOUT)
    workers = {name: subprocess.Popen(
        [DASK, "worker", "--scheduler-file", file, "--nthreads", "1", "--no-nanny",
         "--no-dashboard", "--host", "127.0.0.1", "--name", name,
         "--local-directory", folder / name], stdout=log, stderr=subprocess.STDOUT)
        for name in ("a", "b")}
    try:
        with Client(scheduler_file=str(file), timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            address = client.scheduler.address
        yield address, workers
    finally:
        for process in [*workers.values(), scheduler]:
            if process.poll() is None:
                process.terminate()
        for process in [*workers.values(), scheduler]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _batch(course, folder: Path, sleep: float = 0.0, students: int | None = None) -> Path:
    """Submissions: the solution, a wrong answer, the untouched exercise, a kernel that dies, a
    tampered test, an unreadable file; or ``students`` solutions that sleep ``sleep`` s."""
    answer = toy_course.answered(course)

    def edited(index, text):
        nb = copy.deepcopy(answer)
        nb.cells[index].source = text
        return nb

    if students:
        slow = f"import time\ntime.sleep({sleep})\n{toy_course.SOLUTION_ANIMAL}"
        notebooks = {f"student{i}": edited(3, slow) for i in range(students)}
    else:
        notebooks = {
            "solution": answer,
            "wrong": edited(3, 'def animal():\n    return "dog"'),
            "untouched": nbformat.read(course / "exercises/toy/toy.ipynb", as_version=4),
            "exit": edited(3, "import os\nos._exit(0)"),
            "tampered": edited(2, "# tests removed by the student\npass"),
        }
        (folder / "broken/toy").mkdir(parents=True)
        (folder / "broken/toy/toy.ipynb").write_text('{"cells": [')
    for student, nb in notebooks.items():
        (folder / student / "toy").mkdir(parents=True)
        nbformat.write(nb, folder / student / "toy" / "toy.ipynb")
    return folder


def _outcome(results):
    return {r.student: (r.score, r.max_score, r.error, r.notes) for r in results}


def test_cluster_grades_like_this_machine(course, dask_cluster, tmp_path):
    """The same batch graded by the cluster and here: the same score, error and notes each."""
    address, _ = dask_cluster
    folder = _batch(course, tmp_path / "subs")
    here = batch.autograde(folder, root=course, workers=2, gradebook_path=tmp_path / "here.db",
                           csv_path=tmp_path / "here.csv")
    there = batch.autograde(folder, root=course, scheduler=address,
                            gradebook_path=tmp_path / "there.db", csv_path=tmp_path / "there.csv")
    assert _outcome(there) == _outcome(here)
    assert _outcome(there)["solution"][:3] == (3.0, 3.0, None)
    assert _outcome(there)["tampered"][0] == 3.0  # the test cell is put back from the source
    assert "kernel died" in _outcome(there)["exit"][2]
    assert (tmp_path / "there.csv").read_text() == (tmp_path / "here.csv").read_text()
    assert (course / "autograded/wrong/toy/toy.ipynb").exists()  # written by this process


def test_unreachable_scheduler_is_one_line(course, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "2s")
    folder = _batch(course, tmp_path / "subs", sleep=0, students=1)
    assert cli.main(["autograde", str(folder), "--root", str(course), "--scheduler",
                     "tcp://127.0.0.1:9", "--csv", str(tmp_path / "g.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err[0]
    assert not (tmp_path / "g.csv").exists()


def test_a_worker_killed_mid_batch_loses_no_student(course, dask_cluster, tmp_path):
    """Worker a dies (SIGKILL) after the first result: its students are graded by b, once."""
    address, workers = dask_cluster
    folder = _batch(course, tmp_path / "subs", sleep=3, students=6)
    killed = []

    def kill_a(result):
        if not killed:
            os.kill(workers["a"].pid, signal.SIGKILL)
            killed.append(time.monotonic())

    results = batch.autograde(folder, root=course, scheduler=address, on_result=kill_a,
                              gradebook_path=tmp_path / "gb.db", csv_path=tmp_path / "g.csv")
    assert killed and workers["a"].wait(timeout=30) == -signal.SIGKILL
    assert sorted(r.student for r in results) == [f"student{i}" for i in range(6)]
    assert all(r.error is None and r.score == r.max_score == 3 for r in results), results
    rows = list(csv.DictReader(open(tmp_path / "g.csv")))
    assert sorted(row["student"] for row in rows) == [f"student{i}" for i in range(6)]
    assert len(gradebook.scores(tmp_path / "gb.db")) == 6
