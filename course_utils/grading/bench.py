"""Grading throughput: ``run(submissions=N, workers=(1, 2)) -> dict`` (``make bench`` calls it).

Builds a throw-away course with a small toy assignment (plain Python, the kind of kernel most
graded cells need), grades N copies of its solution with each worker count, and times the parts
of one submission: starting a Python process, importing nbgrader, starting a kernel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from . import batch, release, runner

__all__ = ["run", "toy_notebook"]


def toy_notebook() -> nbformat.NotebookNode:
    """The benchmark assignment: one answer cell and one test cell using course_utils.checks."""
    v4 = nbformat.v4

    def meta(grade_id, **flags):
        base = {"grade": False, "solution": False, "locked": False}
        return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, **base, **flags}}

    nb = v4.new_notebook(cells=[
        v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                         "    ### END SOLUTION", metadata=meta("answer", solution=True)),
        v4.new_code_cell("# double() doubles\nfrom course_utils import checks\n"
                         "checks.expect_number(double(2), 4)",
                         metadata=meta("test", grade=True, locked=True, points=1)),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def _seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=runner.kernel_env(), check=True,
                   capture_output=True)
    return time.perf_counter() - start


def run(submissions: int = 8, workers: tuple[int, ...] = (1, 2)) -> dict:
    """Grade ``submissions`` copies of the toy solution once per worker count.

    Returns:
        ``{"submissions": N, "per_submission_s": {w: s}, "per_hour": {w: n},
        "speedup": x, "parts_s": {...}}``.
    """
    report: dict = {"submissions": submissions, "per_submission_s": {}, "per_hour": {}}
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        root = Path(tmp) / "course"
        (root / "solutions/bench").mkdir(parents=True)
        shutil.copy(Path(__file__).resolve().parents[2] / "nbgrader_config.py", root)
        nbformat.write(toy_notebook(), root / "solutions/bench/bench.ipynb")
        release.release(root=root)
        solution = root / "solutions/bench/bench.ipynb"
        for count in workers:
            folder = Path(tmp) / f"subs{count}"
            for index in range(submissions):
                target = folder / f"student{index:03d}" / "bench" / "bench.ipynb"
                target.parent.mkdir(parents=True)
                shutil.copy(solution, target)
            start = time.perf_counter()
            results = batch.autograde(folder, workers=count, root=root,
                                      gradebook_path=Path(tmp) / f"gb{count}.db",
                                      csv_path=Path(tmp) / f"g{count}.csv")
            elapsed = time.perf_counter() - start
            if any(r.error or r.score != r.max_score for r in results):
                raise RuntimeError(f"benchmark submissions were not graded in full: {results}")
            report["per_submission_s"][count] = round(
                sum(r.seconds for r in results) / len(results), 2)
            report["per_hour"][count] = round(submissions / elapsed * 3600)
    rates = report["per_hour"]
    if 1 in rates and len(rates) > 1:
        report["speedup"] = round(max(rates.values()) / rates[1], 2)
    report["parts_s"] = {
        "python_start": round(_seconds("pass"), 2),
        "import_nbgrader": round(_seconds("import nbgrader.apps") - _seconds("pass"), 2),
        "kernel_start": round(_seconds(
            "from jupyter_client.manager import start_new_kernel\n"
            "km, kc = start_new_kernel(kernel_name='python3')\n"
            "kc.execute_interactive('import course_utils.checks')\n"
            "kc.stop_channels(); km.shutdown_kernel(now=True)"), 2),
        "import_tensorflow": round(_seconds(
            "from course_utils.setup import quiet_tensorflow; quiet_tensorflow()"), 2),
    }
    return report


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 8), indent=2))
