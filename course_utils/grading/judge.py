"""The judge: test cells scored outside the student's kernel, from what the kernel saved.

A test cell whose metadata in the instructor's source notebook says ``{"course": {"judge":
NAME}}`` is not scored from its outputs. After nbgrader's autograde, :func:`apply` runs the
judge NAME of :data:`JUDGES` in a process of its own (``python -m course_utils.grading.judge
NAME SOURCE KEPT GRADE_ID...``, outside the sandbox, with the data the sandbox hides), on the
files the kernel left in its working folder, copied out of the sandbox as the kernel shut down
(:func:`.sandbox.keep_outputs`). Two judges: ``experiment`` scores a saved model
(:mod:`course_utils.checks.experiment`), ``replay`` runs the instructor's tests on the answers
the kernel gave to the grader's questions (:mod:`.replay`). The judge's points become the
cell's automatic score in the gradebook and its lines become the cell's outputs, whatever the
kernel printed there. The judge process never runs code from the student; the metadata is read
from the template's source notebook, never from the submission.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

from .repair import grade_id

__all__ = ["JUDGES", "TIMEOUT", "judged_cells", "run_judge", "apply"]

# name -> module; the module's judge_cells(source, kept, grade_ids) returns {grade_id: verdict},
# a verdict being {"score": points} or {"passed": bool}, with "lines" (the cell's text), and
# "lost" (what cost points) or "error" ([name, message] of the failure).
JUDGES = {"experiment": "course_utils.checks.experiment",
          "replay": "course_utils.grading.replay"}
TIMEOUT = 300  # seconds for one judgement: loading TensorFlow, the backbone and the test photos


def judged_cells(source: Path) -> dict[str, str]:
    """grade_id -> judge name, for the judged test cells of the notebook ``source``."""
    cells = {}
    for cell in nbformat.read(source, as_version=4).cells:
        name = cell.get("metadata", {}).get("course", {}).get("judge")
        if name is not None:
            if name not in JUDGES:
                raise ValueError(f"{source.name}: unknown judge {name!r} (known: "
                                 f"{', '.join(JUDGES)})")
            cells[grade_id(cell)] = name
    return cells


def run_judge(name: str, source: Path, kept: Path, cells: list[str],
              timeout: int = TIMEOUT) -> dict[str, dict]:
    """Judge ``cells`` of ``source`` on the files in ``kept``, in a new process: a verdict per
    grade_id (see :data:`JUDGES`), never an exception for what the student's kernel left."""
    from .processes import kernel_env

    try:
        done = subprocess.run([sys.executable, "-m", __name__, name, str(source), str(kept),
                               *cells], capture_output=True, text=True, timeout=timeout,
                              env=kernel_env())
    except subprocess.TimeoutExpired:
        return {gid: {"score": 0.0, "lines": [f"judging took more than {timeout} s"]}
                for gid in cells}
    try:
        verdicts = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the {name} judge failed on {kept}: {last}") from None
    return {gid: verdicts.get(gid, {"score": 0.0, "lines": ["this test did not run"]})
            for gid in cells}


def apply(source: Path, graded: Path, db: Path, kept: Path, assignment: str,
          student: str) -> list[str]:
    """Judge ``source``'s judged cells for one graded submission.

    Writes each judged cell's score into the gradebook ``db`` and replaces the cell's outputs
    in the autograded notebook ``graded``. Returns one note per judge that ran.
    """
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    cells = judged_cells(source)
    if not cells:
        return []
    verdicts: dict[str, dict] = {}
    for name in sorted(set(cells.values())):
        verdicts.update(run_judge(name, source, kept, [g for g, n in cells.items() if n == name]))
    nb = nbformat.read(graded, as_version=4)
    total = 0.0
    with Gradebook(db_url(db)) as gb:
        for gid, found in verdicts.items():
            grade = gb.find_grade(gid, graded.stem, assignment, student)
            score = grade.max_score if found.get("passed") else float(found.get("score", 0))
            grade.auto_score = min(float(score), float(grade.max_score))
            total += grade.auto_score
            for cell in nb.cells:
                if grade_id(cell) == gid:
                    cell.outputs = [_stream("\n".join(found["lines"]) + "\n")] \
                        if found.get("lines") else []
                    cell.outputs += _failure(found, grade.auto_score, grade.max_score)
        gb.db.commit()
    nbformat.write(nb, graded)
    return [f"{len(verdicts)} test cell(s) judged outside the sandbox: {total:g} points"]


def _failure(found: dict, score: float, max_score: float) -> list:
    """The error output of a judged cell that lost points (none when it did not)."""
    if score >= max_score:
        return []
    if found.get("error"):
        ename, message = found["error"]
    else:
        ename = "JudgedOutside"
        message = f"{score:g} of {max_score:g} points; " + "; ".join(found.get("lost", []))
    return [nbformat.v4.new_output("error", ename=ename, evalue=message,
                                   traceback=[f"{ename}: {message}"])]


def _stream(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _main(argv: list[str]) -> int:
    """``python -m course_utils.grading.judge NAME SOURCE KEPT GRADE_ID...``: print the verdicts
    as one JSON line."""
    import importlib

    name, source, kept, *cells = argv
    verdicts = importlib.import_module(JUDGES[name]).judge_cells(Path(source), Path(kept), cells)
    print(json.dumps(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
