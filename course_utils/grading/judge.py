"""The judge: test cells scored outside the student's kernel, from what the kernel saved.

A test cell whose metadata in the instructor's source notebook says ``{"course": {"judge":
NAME}}`` is not scored from its outputs. After nbgrader's autograde, :func:`apply` runs the
judge NAME of :data:`JUDGES` in a process of its own (``python -m course_utils.grading.judge
NAME FILE``, outside the sandbox, with the data the sandbox hides), on the file the kernel left
in its working folder, copied out of the sandbox as the kernel shut down
(:func:`.sandbox.keep_outputs`). The judge's points become the cell's automatic score in the
gradebook and its lines become the cell's outputs, whatever the kernel printed there. The
judge process never runs code from the file (see :mod:`course_utils.checks.experiment`); the
metadata is read from the template's source notebook, never from the submission.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

from .repair import grade_id

__all__ = ["JUDGES", "TIMEOUT", "judged_cells", "run_judge", "apply"]

# name -> module; the module's MODEL_FILE is the file the kernel saves, its judge_file(path)
# returns the verdict.
JUDGES = {"experiment": "course_utils.checks.experiment"}
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


def run_judge(name: str, kept: Path, timeout: int = TIMEOUT) -> dict:
    """Judge ``kept``/the judge's file in a new process; a verdict dict (see
    :func:`course_utils.checks.experiment.verdict`), never an exception for the student's file."""
    import importlib

    from .processes import kernel_env

    filename = importlib.import_module(JUDGES[name]).MODEL_FILE
    path = kept / filename
    try:
        done = subprocess.run([sys.executable, "-m", __name__, name, str(path)],
                              capture_output=True, text=True, timeout=timeout, env=kernel_env())
    except subprocess.TimeoutExpired:
        return {"score": 0.0, "lines": [f"judging {filename} took more than {timeout} s"]}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the {name} judge failed on {path}: {last}") from None


def apply(source: Path, graded: Path, db: Path, kept: Path, assignment: str,
          student: str) -> list[str]:
    """Judge ``source``'s judged cells for one graded submission.

    Writes each judged cell's score into the gradebook ``db`` and replaces the cell's outputs
    in the autograded notebook ``graded``. Returns one note per judged cell.
    """
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    cells = judged_cells(source)
    if not cells:
        return []
    verdicts = {gid: run_judge(name, kept) for gid, name in cells.items()}
    nb = nbformat.read(graded, as_version=4)
    with Gradebook(db_url(db)) as gb:
        for gid, found in verdicts.items():
            grade = gb.find_grade(gid, graded.stem, assignment, student)
            grade.auto_score = min(float(found["score"]), float(grade.max_score))
            for cell in nb.cells:
                if grade_id(cell) == gid:
                    cell.outputs = [_stream("\n".join(found["lines"]) + "\n")]
                    if grade.auto_score < grade.max_score:
                        message = (f"{grade.auto_score:g} of {grade.max_score:g} points; "
                                   + "; ".join(found.get("lost", [])))
                        cell.outputs.append(nbformat.v4.new_output(
                            "error", ename="JudgedOutside", evalue=message, traceback=[message]))
        gb.db.commit()
    nbformat.write(nb, graded)
    return [f"{gid}: judged outside the sandbox, {found['score']:g} points"
            for gid, found in verdicts.items()]


def _stream(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _main(argv: list[str]) -> int:
    """``python -m course_utils.grading.judge NAME FILE``: print the verdict as one JSON line."""
    import importlib

    name, path = argv
    verdict = importlib.import_module(JUDGES[name]).judge_file(Path(path))
    print(json.dumps(verdict))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
