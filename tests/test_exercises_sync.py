"""exercises/ is exactly what nbgrader generates from solutions/, and leaks nothing."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from course_utils.grading import release as release_module

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").glob("ex[0-9][0-9]_*") if p.is_dir())


def test_one_assignment_per_lesson_and_the_experiment():
    assert [name[:4] for name in ASSIGNMENTS] == [f"ex0{i}" for i in range(1, 8)]
    assert ASSIGNMENTS[-1] == "ex07_experiment"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("exercises")
    release_module.release(dest=dest, root=ROOT)
    return dest


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def test_committed_exercises_match_a_fresh_release(regenerated):
    """Run `course release` (or `make release`) after editing solutions/."""
    committed = ROOT / "exercises"
    assert _files(committed) == _files(regenerated)
    stale = [name for name in _files(committed)
             if not filecmp.cmp(committed / name, regenerated / name, shallow=False)]
    assert stale == [], f"out of date: {stale}; run `course release`"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_exercise_leaks_no_solution_or_hidden_test(name):
    source = ROOT / "solutions" / name / f"{name}.ipynb"
    release_module.check_released(ROOT / "exercises" / name, source)
