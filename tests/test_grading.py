"""Tests for course_utils.grading: release, autograde (with every known fault), feedback, check.

A toy assignment without TensorFlow (fast kernels) is built in a temporary course root. One
module-scoped batch grades every fault at once, the way a real batch would meet them.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
import zipfile

import nbformat
import pytest
import toy_course

from course_utils import cli
from course_utils.errors import CourseError
from course_utils.grading import batch, check, feedback, release, repair


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course root with the toy assignment released."""
    return toy_course.make_course(tmp_path_factory.mktemp("course"))


def _variants(course):
    exercise = nbformat.read(course / "exercises/toy/toy.ipynb", as_version=4)
    answer = toy_course.answered(course)

    def edited(index, text, base=answer):
        nb = copy.deepcopy(base)
        nb.cells[index].source = text
        return nb

    duplicated = copy.deepcopy(answer)
    duplicated.cells.insert(3, copy.deepcopy(duplicated.cells[2]))
    deleted = copy.deepcopy(answer)
    del deleted.cells[4]
    return {
        "solution": answer,
        "untouched": exercise,
        "wrong": edited(3, 'def animal():\n    return "dog"'),
        "exit": edited(3, "import os\nos._exit(0)"),
        "loop": edited(3, "while True:\n    pass"),
        "fake_timeout": edited(3, "class CellTimeoutError(Exception):\n    pass\n"
                                  "raise CellTimeoutError('No reply from kernel before timeout')"),
        "duplicated": duplicated,
        "deleted": deleted,
        "tampered": edited(2, "# tests removed by the student\npass"),
        "stderr": edited(1, "import sys, warnings\nwarnings.warn('noise')\n"
                            "def double(x):\n    print('W tf: noise', file=sys.stderr)\n"
                            "    return 2 * x"),
        "alwayseq": edited(1, "class Any:\n    def __eq__(self, other):\n        return True\n"
                              "def double(x):\n    return Any()"),
        "hardcoded": edited(1, "def double(x):\n    return 4"),
    }


EXPECTED = {  # student -> (score, error substring or None)
    "solution": (3, None), "untouched": (0, None), "wrong": (2, None), "exit": (0, "kernel died"),
    "loop": (2, None), "fake_timeout": (2, None), "duplicated": (3, None), "deleted": (3, None), "tampered": (3, None),
    "stderr": (3, None), "alwayseq": (1, None), "hardcoded": (1, None),
    "broken": (0, "not valid JSON"),
}


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Grade every variant in one batch with two workers; keep the JSON lines."""
    folder = tmp_path_factory.mktemp("submitted")
    for student, nb in _variants(course).items():
        (folder / student / "toy").mkdir(parents=True)
        nbformat.write(nb, folder / student / "toy" / "toy.ipynb")
    (folder / "broken/toy").mkdir(parents=True)
    (folder / "broken/toy/toy.ipynb").write_text('{"cells": [')
    results = batch.autograde(folder, workers=2, root=course, cell_timeout=5,
                              notebook_timeout=120)
    return folder, {r.student: r for r in results}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_its_result(graded, student):
    """Every fault gives that student the expected score or reason; the batch goes on."""
    result = graded[1][student]
    score, error = EXPECTED[student]
    assert result.score == score, (student, result)
    if error is None:
        assert result.error is None and result.max_score == 3
    else:
        assert error in result.error


def test_repairs_are_reported(graded):
    results = graded[1]
    assert any("appeared 2 times" in note for note in results["duplicated"].notes)
    assert any("restored from the source" in note for note in results["deleted"].notes)
    # the grading process names the cell it interrupted; a student's error by that name is not
    # a timeout
    assert "answer_animal ran longer than 5 s and was interrupted" in results["loop"].notes
    assert not any("interrupted" in note for student in ("fake_timeout", "solution")
                   for note in results[student].notes)


def test_gradebook_and_csv(course, graded):
    rows = {r["student"]: r for r in csv.DictReader(open(course / "grades.csv"))}
    assert rows["solution"]["score"] == "3" and rows["wrong"]["score"] == "2"
    assert "not valid JSON" in rows["broken"]["error"]
    assert (course / "autograded/solution/toy/toy.ipynb").exists()


def test_failed_regrade_keeps_earlier_grade_and_rerun_is_idempotent(course, graded, tmp_path):
    (tmp_path / "solution/toy").mkdir(parents=True)
    (tmp_path / "solution/toy/toy.ipynb").write_text("not json")
    (result,) = batch.autograde(tmp_path, root=course)
    assert result.score == 3 and "earlier grade kept" in result.error
    shutil.copy(graded[0] / "wrong/toy/toy.ipynb", tmp_path / "solution/toy/toy.ipynb")
    first = batch.autograde(tmp_path, root=course)
    second = batch.autograde(tmp_path, root=course)
    assert [r.as_json() for r in first] == [r.as_json() for r in second]
    assert first[0].score == 2
    rows = list(csv.DictReader(open(course / "grades.csv")))
    # errors are reported for the latest run only; the ungradable two never had a grade
    assert len(rows) == len(EXPECTED) - 2 and {r["student"] for r in rows} >= {"solution", "wrong"}


def test_flat_folder_zip_and_json_output(course, graded, tmp_path, capsys):
    other = tmp_path / "course"  # a separate course root, so the shared one is not changed
    other.mkdir()
    for name in ("nbgrader_config.py", "solutions", "exercises"):
        copy_ = shutil.copytree if (course / name).is_dir() else shutil.copy
        copy_(course / name, other / name)
    flat = tmp_path / "lms"
    flat.mkdir()
    shutil.copy(graded[0] / "wrong/toy/toy.ipynb", flat / "dave_toy.ipynb")
    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(flat / "dave_toy.ipynb", "lms/dave_toy.ipynb")
    for source in (flat, archive):
        assert cli.main(["autograde", str(source), "--root", str(other), "--json",
                         "--gradebook", str(tmp_path / "gb.db"),
                         "--csv", str(tmp_path / "g.csv")]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out.strip()) == {"student": "dave", "assignment": "toy", "score": 2.0,
                                           "max_score": 3.0, "error": None}
        assert "progress: 1/1 graded, 0 could not be graded" in err  # no terminal: plain lines


def test_warm_workers_grade_like_a_process_per_student(course, graded, tmp_path):
    """Long-lived workers with pre-started kernels (the default) give every student of the
    fault batch the same score, error and notes as a new process and kernel per student."""
    cold = batch.autograde(graded[0], workers=1, root=course, cell_timeout=5,
                           notebook_timeout=120, warm=False, gradebook_path=tmp_path / "gb.db",
                           csv_path=tmp_path / "g.csv")
    assert len(cold) == len(EXPECTED)
    for result in cold:
        warm = graded[1][result.student]
        assert (result.score, result.max_score, result.error, result.notes) == \
            (warm.score, warm.max_score, warm.error, warm.notes), result.student


def test_template_is_cached_until_the_source_changes(tmp_path):
    """`course autograde` makes an assignment's template once; a changed source makes a new one."""
    from course_utils.grading import templates

    course = toy_course.make_course(tmp_path)
    first = templates.template(course, "toy")
    made = (first / "gradebook.db").stat().st_mtime_ns
    assert templates.template(course, "toy") == first
    assert (first / "gradebook.db").stat().st_mtime_ns == made  # reused, not rebuilt
    source = course / "solutions/toy/toy.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells[0].source += "\nNow with a second line."
    nbformat.write(nb, source)
    second = templates.template(course, "toy")
    assert second != first and "second line" in (second / "solutions/toy/toy.ipynb").read_text()
    assert "second line" in (second / "exercises/toy/toy.ipynb").read_text()


def test_asserts_disabled_refuses(course, graded, monkeypatch, capsys):
    monkeypatch.setenv("PYTHONOPTIMIZE", "1")
    assert cli.main(["autograde", str(graded[0]), "--root", str(course)]) == 2
    assert "assert statements" in capsys.readouterr().err


def test_bad_arguments_exit_2(course, tmp_path, capsys):
    assert cli.main(["autograde", str(tmp_path / "missing"), "--root", str(course)]) == 2
    assert cli.main(["autograde", str(tmp_path), "--root", str(course), "--assignment",
                     "nope"]) == 2
    assert "unknown assignment" in capsys.readouterr().err


def test_feedback_hides_hidden_tests(course, graded):
    pages = feedback.feedback("toy", root=course, workers=2, cell_timeout=5)
    assert len(pages) == len(EXPECTED) - 2  # not the unreadable and the dead-kernel students
    for page in pages:
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "double(-21)" not in text.replace(
            "double(-21) is", "")


def test_release_is_deterministic_and_refuses_leaks(course, tmp_path):
    first = release.release(dest=tmp_path / "a", root=course)[0]
    assert first.read_bytes() == (course / "exercises/toy/toy.ipynb").read_bytes()
    assert "BEGIN SOLUTION" not in first.read_text()
    (course / "solutions/toy/answers.txt").write_text("42")
    try:
        with pytest.raises(CourseError, match="answers.txt"):
            release.release(dest=tmp_path / "b", root=course)
    finally:
        (course / "solutions/toy/answers.txt").unlink()


def test_check_previews_visible_tests(course, graded):
    rows = check.preview(graded[0] / "wrong/toy/toy.ipynb", timeout=30)
    assert [(r["grade_id"], r["points"]) for r in rows] == [("test_double", 2), ("test_animal", 0)]
    assert "expected 'cat'" in rows[1]["message"]


def test_repair_keeps_one_copy_of_duplicated_test():
    nb = toy_course.source_notebook()
    nb.cells.append(copy.deepcopy(nb.cells[2]))
    notes = repair.repair(nb, toy_course.source_notebook())
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.count("test_double") == 1 and notes


def test_unexpected_error_for_one_student_does_not_stop_the_batch(course, graded, tmp_path,
                                                                  monkeypatch):
    """Anything a student's grading raises becomes that student's error; the rest is graded."""
    from course_utils.grading import runner

    for student in ("fine", "boom"):
        (tmp_path / student / "toy").mkdir(parents=True)
        shutil.copy(graded[0] / "solution/toy/toy.ipynb", tmp_path / student / "toy/toy.ipynb")
    real_grade = runner.grade

    def grade(template, student, *args, **kwargs):
        if student == "boom":
            raise AttributeError("'str' object has no attribute 'get'")
        return real_grade(template, student, *args, **kwargs)

    monkeypatch.setattr(runner, "grade", grade)
    results = {r.student: r for r in batch.autograde(tmp_path, root=course)}
    assert results["fine"].error is None and results["fine"].score == 3
    assert "internal error: AttributeError" in results["boom"].error


def test_regrade_keeps_manual_scores(course, graded, tmp_path):
    """A manual score entered in formgrader survives `course autograde` run again."""
    from nbgrader.api import Gradebook

    (tmp_path / "solution/toy").mkdir(parents=True)
    shutil.copy(graded[0] / "solution/toy/toy.ipynb", tmp_path / "solution/toy/toy.ipynb")
    db = tmp_path / "gradebook.db"
    batch.autograde(tmp_path, root=course, gradebook_path=db, csv_path=tmp_path / "g.csv")
    with Gradebook(f"sqlite:///{db}") as gradebook:
        grade = gradebook.find_submission("toy", "solution").notebooks[0].grades[0]
        grade.manual_score = 0.5
        gradebook.db.commit()
        name = grade.name
    batch.autograde(tmp_path, root=course, gradebook_path=db, csv_path=tmp_path / "g.csv")
    with Gradebook(f"sqlite:///{db}") as gradebook:
        kept = gradebook.find_grade(name, "toy", "toy", "solution")
        assert kept.manual_score == 0.5


def _no_bwrap(monkeypatch):
    from course_utils.grading import preflight

    monkeypatch.setattr(preflight, "unavailable_reason", lambda: "bubblewrap (bwrap) is not "
                                                                 "installed")


def test_no_sandbox_possible_refuses_in_one_line(course, graded, monkeypatch, capsys):
    """Where bwrap cannot run, autograde and feedback refuse, naming the fix and --no-sandbox."""
    _no_bwrap(monkeypatch)
    assert cli.main(["autograde", str(graded[0]), "--root", str(course)]) == 2
    assert cli.main(["feedback", "--root", str(course)]) == 2
    for line in capsys.readouterr().err.strip().splitlines():
        assert "refusing to grade without a sandbox" in line and "--no-sandbox" in line


def test_no_sandbox_is_announced_and_recorded(course, graded, tmp_path, monkeypatch, capsys):
    _no_bwrap(monkeypatch)
    (tmp_path / "subs/solution/toy").mkdir(parents=True)
    shutil.copy(graded[0] / "solution/toy/toy.ipynb", tmp_path / "subs/solution/toy/toy.ipynb")
    assert cli.main(["autograde", str(tmp_path / "subs"), "--root", str(course), "--no-sandbox",
                     "--gradebook", str(tmp_path / "gb.db"), "--csv", str(tmp_path / "g.csv")]) == 0
    assert "WITHOUT a sandbox" in capsys.readouterr().err
    (row,) = csv.DictReader(open(tmp_path / "g.csv"))
    assert (row["score"], row["sandbox"]) == ("3", "no")


def test_plain_nbgrader_autograde_says_it_gives_no_protection(tmp_path):
    """``nbgrader autograde`` reads the course's config (the test guard runs) and says, as it
    starts, that only ``course autograde`` protects the grades."""
    import subprocess
    import sys
    from pathlib import Path

    from course_utils.grading import execute, processes

    root = toy_course.make_course(tmp_path)
    target = root / "submitted/alice/toy/toy.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(toy_course.answered(root), target)
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    for command in (["generate_assignment", "toy", "--force"],  # puts it in the gradebook
                    ["autograde", "toy", "--student", "alice"]):
        done = subprocess.run([nbgrader, *command], cwd=root, env=processes.kernel_env(),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    assert execute.UNPROTECTED in done.stderr
    graded = nbformat.read(root / "autograded/alice/toy/toy.ipynb", as_version=4)
    assert all(out.output_type != "error" for cell in graded.cells
               for out in cell.get("outputs", []))
