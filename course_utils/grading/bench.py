"""Grading throughput: ``run(submissions=N, workers=(1, 2), assignment=A) -> dict``.

Builds a throw-away course holding one assignment (a course assignment from ``solutions/``, or a
small plain-Python toy when ``assignment`` is None), grades a batch of N submissions with each
worker count, the old way (``--cold``) and without the sandbox, and times the fixed parts of a
cold submission: starting a Python process, importing nbgrader, starting a kernel, importing
TensorFlow. ``make bench`` calls it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from . import batch, course, processes, release, runner

__all__ = ["run", "report", "toy_notebook", "TARGET_PER_HOUR", "TARGET_SPEEDUP"]

TARGET_PER_HOUR = 1500  # submissions/hour on 2 cores, sandboxed (issue 12)
TARGET_SPEEDUP = 1.8  # from 1 to 2 workers


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
    subprocess.run([sys.executable, "-c", code], env=processes.kernel_env(), check=True,
                   capture_output=True)
    return time.perf_counter() - start


def run(submissions: int = 50, workers: tuple[int, ...] = (1, 2),
        assignment: str | None = None) -> dict:
    """Grade a batch of ``submissions`` (every fourth the untouched exercise, which scores 0;
    the others the solution) in the sandbox with long-lived workers, once per worker count; then
    the same batch the way it was graded before workers (a new process and kernel per student,
    the most workers) and with one worker without the sandbox, to price both.

    Args:
        submissions: notebooks in the batch.
        workers: worker counts to compare.
        assignment: a course assignment (``solutions/<assignment>``); None for the toy one.

    Returns:
        ``{"submissions": N, "per_submission_s": {w: s}, "per_hour": {w: n}, "speedup": x,
        "cold_per_hour": n, "sandbox_cost_s": s, "sandbox_cost_percent": p, "parts_s": {...}}``.

    Raises:
        RuntimeError: a solution did not get full marks or an untouched exercise got points.
    """
    name = assignment or "bench"
    report: dict = {"assignment": name, "submissions": submissions, "per_submission_s": {},
                    "per_hour": {}}
    course_root = course.course_root()
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        root = Path(tmp) / "course"
        (root / "solutions" / name).mkdir(parents=True)
        shutil.copy(course_root / "nbgrader_config.py", root)
        solution = root / "solutions" / name / f"{name}.ipynb"
        if assignment is None:
            nbformat.write(toy_notebook(), solution)
        else:
            shutil.copy(course.source_notebook(course_root, assignment), solution)
        release.release(root=root)
        report["tensorflow"] = bool(runner.kernel_preload(solution))
        folder = Path(tmp) / "submissions"
        for index in range(submissions):
            target = folder / f"student{index:03d}" / name / f"{name}.ipynb"
            target.parent.mkdir(parents=True)
            untouched = root / "exercises" / name / f"{name}.ipynb"
            shutil.copy(untouched if index % 4 == 3 else solution, target)

        def grade(label: str, count: int, sandbox: bool = True,
                  warm: bool = True) -> tuple[float, float]:
            start = time.perf_counter()
            results = batch.autograde(folder, workers=count, root=root, sandbox=sandbox,
                                      warm=warm, gradebook_path=Path(tmp) / f"gb-{label}.db",
                                      csv_path=Path(tmp) / f"g-{label}.csv")
            elapsed = time.perf_counter() - start
            wrong = [r for r in results if r.error or (r.score == r.max_score) ==
                     (int(r.student[-3:]) % 4 == 3)]
            if wrong:
                raise RuntimeError(f"benchmark submissions were graded wrongly: {wrong}")
            return sum(r.seconds for r in results) / len(results), elapsed

        grade("template", 1)  # builds the cached template and the caches: not timed
        for count in workers:
            per_submission, elapsed = grade(f"{count}", count)
            report["per_submission_s"][count] = round(per_submission, 2)
            report["per_hour"][count] = round(submissions / elapsed * 3600)
        most = max(workers)
        report["cold_workers"] = most
        report["cold_per_hour"] = round(submissions / grade("cold", most, warm=False)[1] * 3600)
        if 1 in workers:
            unsandboxed = grade("nosandbox", 1, sandbox=False)[0]
            cost = report["per_submission_s"][1] - unsandboxed
            report["sandbox_cost_s"] = round(cost, 2)
            report["sandbox_cost_percent"] = round(100 * cost / unsandboxed, 1)
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
            "from course_utils.runtime.tf import quiet_tensorflow; quiet_tensorflow()"), 2),
    }
    return report


def report(result: dict) -> str:
    """Format :func:`run`'s result as the lines ``make bench`` prints."""
    lines = [f"Autograding {result['submissions']} submissions of {result['assignment']} "
             "(3 in 4 the solution, 1 in 4 the untouched exercise), sandboxed"]
    for count, seconds in result["per_submission_s"].items():
        lines.append(f"  {count} worker(s): {result['per_hour'][count]:>5} submissions/hour, "
                     f"{seconds:.1f} s per submission (long-lived workers, kernels started "
                     "in advance)")
    best = max(result["per_hour"].values())
    lines.append(f"  target {TARGET_PER_HOUR:,}/hour: " + (
        "met" if best >= TARGET_PER_HOUR else
        f"missed by {TARGET_PER_HOUR - best:,}/hour ({best / TARGET_PER_HOUR:.0%} of it)" + (
            f"; a TensorFlow kernel per student costs {result['parts_s']['import_tensorflow']:.1f}"
            f" CPU-s, which alone caps {os.cpu_count()} cores at "
            f"{os.cpu_count() * 3600 / result['parts_s']['import_tensorflow']:,.0f}/hour"
            if result.get("tensorflow") else "")))
    if "speedup" in result:
        lines.append(f"  speed-up with the most workers: {result['speedup']:.2f}x (target "
                     f"{TARGET_SPEEDUP}x; one worker already uses a second core for the next "
                     "student's kernel)")
    lines.append(f"  a new process and kernel per student ({result['cold_workers']} worker(s), "
                 f"--cold): {result['cold_per_hour']} submissions/hour")
    if "sandbox_cost_s" in result:
        lines.append(f"  the bubblewrap sandbox costs {result['sandbox_cost_s']:+.2f} s per "
                     f"submission ({result['sandbox_cost_percent']:+.1f} % of grading without it)")
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in result["parts_s"].items())
    lines.append(f"  one submission's fixed costs: {parts}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 8), indent=2))
