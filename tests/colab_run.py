"""The Colab-compatibility run: the course on Colab's versions (``make test-colab``).

Not part of the main suite (the file name does not start with ``test_``): ``make test-colab`` runs
it with the pytest of ``.venv-colab``, an environment holding Colab's versions
(``colab/requirements-colab.txt``) into which ``colab/setup_cell.py`` installed the course the way
the notebooks' setup cell does. It checks that

* installing the course replaced none of Colab's versions;
* every lesson runs offline with papermill (the runner of ``tests/test_lessons.py``, claims
  strict), into ``build/colab/notebooks``; times go to ``build/colab/lesson_times.json``;
* each assignment's reference solution gets full marks and its untouched exercise 0, graded by
  ``course autograde`` (nbgrader), as an instructor would grade a class. ``make test-colab`` runs
  this one last and alone (``-k autograde``): nbgrader needs IPython 8, Colab has 7.34.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_rules import LESSONS, ROOT
from packaging.utils import canonicalize_name
from test_lessons import execute

BUILD = ROOT / "build" / "colab"
PINS = ROOT / "colab" / "requirements-colab.txt"
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)

pytestmark = pytest.mark.skipif(
    os.environ.get("COURSE_COLAB_RUN") != "1",
    reason="the Colab-compatibility run needs .venv-colab: run `make test-colab`")


def colab_pins() -> dict[str, str]:
    """Package name -> version, from ``colab/requirements-colab.txt``."""
    pins = {}
    for line in PINS.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_colab_versions_are_kept_and_the_course_is_installed():
    """Installing the course (and the test tools) replaced none of Colab's versions."""
    installed = {canonicalize_name(name): importlib.metadata.version(name) for name in colab_pins()}
    moved = {name: f"{version} -> {installed[name]}" for name, version in colab_pins().items()
             if installed[name] != version}
    assert not moved, f"installing the course replaced Colab's versions: {moved}"
    import course_utils

    assert "site-packages" in course_utils.__file__, (
        f"course_utils comes from {course_utils.__file__}, not from the installed package")


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_runs_on_colab_versions(path):
    out = BUILD / "notebooks" / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    problem, seconds = execute(path, out)
    if problem:
        pytest.fail(problem)
    times_file = BUILD / "lesson_times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    times[path.name] = round(seconds, 1)
    times_file.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")


def _solved(release: Path, source: Path) -> nbformat.NotebookNode:
    """The released notebook with every answer cell holding the reference solution."""
    answers = {c.metadata["nbgrader"]["grade_id"]: SOLUTION_MARKERS.sub("", c.source)
               for c in nbformat.read(source, as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def test_autograde_gives_solutions_full_marks_and_untouched_exercises_zero(tmp_path):
    """``course autograde`` on a class of two: the reference solution and the blank exercise."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    assignments = sorted(p.parent.name for p in (ROOT / "solutions").glob("ex*/*.ipynb"))
    for name in assignments:
        release = ROOT / "exercises" / name / f"{name}.ipynb"
        nbformat.write(_solved(release, ROOT / "solutions" / name / f"{name}.ipynb"),
                       submissions / f"solution_{name}.ipynb")
        (submissions / f"untouched_{name}.ipynb").write_bytes(release.read_bytes())
    # A private copy of the course root: autograde writes submitted/ and autograded/ into it.
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "nbgrader_config.py").write_bytes((ROOT / "nbgrader_config.py").read_bytes())
    for name in assignments:
        (course / "solutions" / name).mkdir()
        (course / "solutions" / name / f"{name}.ipynb").write_bytes(
            (ROOT / "solutions" / name / f"{name}.ipynb").read_bytes())
    # The grading sandbox mounts the course's caches read-only: fill them first, as an instructor
    # does by running the lessons once (EfficientNet-Lite0's weights, the offline dataset of the
    # offline profile, the renamed MiniLM preset that keras-hub 0.26 needs).
    from course_utils import datasets, env, lite0, text

    lite0.converted_weights(include_top=True)
    datasets.offline_dataset(samples_per_class=env.PROFILES["offline"].samples_per_class)
    text.preset_dir()
    command = [str(Path(sys.executable).with_name("course")), "autograde", str(submissions),
               "--root", str(course), "--workers", "2", "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    scores = {(r["student"], r["assignment"]): r for r in rows}
    assert len(scores) == 2 * len(assignments), result.stdout + result.stderr[-2000:]
    wrong = []
    for (student, assignment), row in sorted(scores.items()):
        print(f"{assignment:26s} {student:10s} {row['score']:g}/{row['max_score']:g}"
              + (f"  error: {row['error']}" if row["error"] else ""))
        expected = row["max_score"] if student == "solution" else 0
        if row["error"] or row["max_score"] <= 0 or row["score"] != expected:
            wrong.append(f"{assignment}/{student}: {row['score']:g}/{row['max_score']:g} "
                         f"(expected {expected:g}) {row['error'] or ''}")
    assert not wrong, "\n".join(wrong)
