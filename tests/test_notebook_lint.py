"""Every lesson follows the notebook rules; the generated cells are up to date."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from notebook_rules import LESSONS, ROOT, problems


def test_lessons_exist_in_order():
    """Six lessons named 01_... to 06_..., no gaps."""
    numbers = [int(p.name[:2]) for p in LESSONS]
    assert numbers == list(range(1, 7)), [p.name for p in LESSONS]
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name) for p in LESSONS)


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_follows_the_rules(path):
    assert problems(path) == []


def test_rules_catch_a_bad_notebook(tmp_path):
    """The linter itself can fail: a notebook breaking several rules is reported."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("!pip install foo", metadata={"tags": ["raises-exception"]})]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="x")]
    path = tmp_path / "01_bad.ipynb"
    nbformat.write(nb, path)
    found = "\n".join(problems(path))
    for fragment in ("markdown title", "'parameters'", "setup_notebook", "raises-exception",
                     "'!' shell command", "committed outputs"):
        assert fragment in found


def test_generated_cells_are_current():
    """Badges, navigation and the Colab install line match pyproject.toml."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "navigation.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
