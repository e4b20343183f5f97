"""Every lesson runs end to end in the offline profile (papermill), within time limits.

The executed copies go to ``build/notebooks/``; ``make test`` then runs ``pytest --nbval-lax`` on
them, which re-executes each one and compares the cells marked ``# NBVAL_CHECK_OUTPUT``. Times are
written to ``build/notebook_times.json``: under ``make test``'s parallel load, so not a student's times
(``make bench`` times the lessons one at a time).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from notebook_rules import LESSONS, ROOT, record_time

from course_utils import bench

BUILD = ROOT / "build" / "notebooks"
TIMES = ROOT / "build" / "notebook_times.json"
CELL_TIMEOUT = 300  # seconds for one cell: generous, the budget is checked by make bench
NOTEBOOK_TIMEOUT = 600  # seconds for a whole notebook, kernel start included


def _failed_cell(path) -> str:
    """Describe the last cell that started running in a (partially) executed notebook."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return "before the first cell"
    code = [c for c in nb.cells if c.cell_type == "code"]
    # papermill stamps a start time on each cell as it starts (the execution count of a cell that
    # kills its kernel may never be recorded)
    ran = [i for i, c in enumerate(code) if c.metadata.get("papermill", {}).get("start_time")]
    if not ran:
        return "before the first cell"
    i = ran[-1]
    first_line = code[i].source.strip().splitlines()[0] if code[i].source.strip() else ""
    return f"code cell {i + 1} ({first_line[:60]!r})"


def execute(path: Path, out: Path, timeout: int = NOTEBOOK_TIMEOUT) -> tuple[str | None, float]:
    """Run a notebook with papermill in the offline profile, claims strict (``COURSE_STRICT=1``).

    Returns:
        ``(problem, seconds)``: problem is None on success, else one message naming the notebook
        and the cell it failed or hung in.
    """
    start = time.perf_counter()
    try:
        # strict: a claim outside its band fails the lesson here (a student only sees a note)
        result = bench.run_lesson(path, out, strict=True, cell_timeout=CELL_TIMEOUT,
                                  timeout=timeout)
    except subprocess.TimeoutExpired:
        return (f"{path.name} took over {timeout} s; stuck in {_failed_cell(out)}",
                time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        died = "kernel died" if "DeadKernel" in result.stderr else "failed"
        return f"{path.name} {died} in {_failed_cell(out)}:\n{tail}", seconds
    return None, seconds


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_runs_offline(path):
    BUILD.mkdir(parents=True, exist_ok=True)
    problem, seconds = execute(path, BUILD / path.name)
    if problem:
        pytest.fail(problem)
    record_time(TIMES, path.name, seconds)


def test_kernel_death_is_reported_fast_with_notebook_and_cell(tmp_path):
    """A lesson that kills its kernel fails in seconds, not at the timeout, and says where."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell('PROFILE = "auto"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("import os\nos._exit(1)")]
    path = tmp_path / "99_dies.ipynb"
    nbformat.write(nb, path)
    problem, seconds = execute(path, tmp_path / "out.ipynb", timeout=120)
    assert problem is not None and "99_dies.ipynb" in problem
    assert "code cell 4 ('import os')" in problem  # 4: papermill adds the injected parameters
    assert seconds < 60


def test_bench_times_each_lesson_and_says_which_failed(tmp_path, capsys):
    """`course bench --lessons DIR` runs every NN_*.ipynb with papermill and reports the budget."""
    from course_utils import cli

    for name, code in (("01_quick.ipynb", "PROFILE = 'auto'\nx = 1"), ("02_broken.ipynb", "1 / 0")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.cells[0].metadata["tags"] = ["parameters"]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, tmp_path / name)
    (tmp_path / "notes.ipynb").write_text("not a lesson")  # not NN_name: ignored
    times = bench.lesson_times(tmp_path)
    assert list(times) == ["01_quick.ipynb", "02_broken.ipynb"]
    assert 0 < times["01_quick.ipynb"] < 60 and times["02_broken.ipynb"] is None
    report = "\n".join(bench._lesson_report(times))
    assert "02_broken.ipynb" in report and "FAILED" in report and "budget missed" in report
    assert cli.main(["bench", "--lessons", str(tmp_path / "nowhere")]) == 2
    assert "no lesson notebooks" in capsys.readouterr().err
