"""A toy nbgrader assignment without TensorFlow (fast kernels), shared by the grading tests.

``double`` (2 points: one visible and one hidden test) and ``animal`` (1 point, visible).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
v4 = nbformat.v4
SOLUTION_ANIMAL = 'def animal():\n    return "cat"'


def meta(grade_id, grade=False, solution=False, locked=False, points=0):
    """nbgrader cell metadata."""
    data = {"grade_id": grade_id, "grade": grade, "solution": solution, "locked": locked,
            "schema_version": 3}
    if grade:
        data["points"] = points
    return {"nbgrader": data}


def source_notebook():
    """The instructor's notebook: two answers, two graded test cells (one with hidden tests)."""
    cells = [
        v4.new_markdown_cell("# Toy assignment", metadata=meta("intro", locked=True)),
        v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                         "    ### END SOLUTION", metadata=meta("answer_double", solution=True)),
        v4.new_code_cell("# double() doubles small integers\nfrom course_utils import checks\n\n"
                         'checks.expect_number(double(2), 4, name="double(2)")\n'
                         "### BEGIN HIDDEN TESTS\n"
                         'checks.expect_number(double(-21), -42, name="double(-21)")\n'
                         "### END HIDDEN TESTS",
                         metadata=meta("test_double", grade=True, locked=True, points=2)),
        v4.new_code_cell('def animal():\n    ### BEGIN SOLUTION\n    return "cat"\n'
                         "    ### END SOLUTION", metadata=meta("answer_animal", solution=True)),
        v4.new_code_cell('# animal() names the animal\nchecks.expect_equal(animal(), "cat", '
                         'name="animal()")',
                         metadata=meta("test_animal", grade=True, locked=True, points=1)),
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def make_course(root: Path) -> Path:
    """A course root at ``root`` with the toy assignment released."""
    from course_utils.grading import release

    shutil.copy(REPO / "nbgrader_config.py", root)
    (root / "solutions/toy").mkdir(parents=True)
    nbformat.write(source_notebook(), root / "solutions/toy/toy.ipynb")
    release.release(root=root)
    return root


def answered(root: Path):
    """The released notebook with both answers filled in correctly."""
    solution = nbformat.read(root / "solutions/toy/toy.ipynb", as_version=4)
    nb = nbformat.read(root / "exercises/toy/toy.ipynb", as_version=4)
    nb.cells[1].source, nb.cells[3].source = solution.cells[1].source, SOLUTION_ANIMAL
    return nb
