"""One rule for hidden-test markers: the course's split agrees with what nbgrader removes."""

from __future__ import annotations

import nbformat
import pytest
from nbgrader.preprocessors import ClearHiddenTests

from course_utils.grading import markers

VARIANTS = {
    "three hashes": "### BEGIN HIDDEN TESTS\n{body}\n### END HIDDEN TESTS",
    "trailing space": "### BEGIN HIDDEN TESTS \n{body}\n### END HIDDEN TESTS ",
    "two hashes": "## BEGIN HIDDEN TESTS\n{body}\n## END HIDDEN TESTS",
    "one hash": "# BEGIN HIDDEN TESTS\n{body}\n# END HIDDEN TESTS",
    "CRLF": "### BEGIN HIDDEN TESTS\r\n{body}\r\n### END HIDDEN TESTS\r",
    "indented": "if True:\n    ### BEGIN HIDDEN TESTS\n    {body}\n    ### END HIDDEN TESTS",
}
SECRET = "assert double(-21) == -42, 'the hidden case'"


def _nbgrader_visible(source: str) -> str:
    cell = nbformat.v4.new_code_cell(source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


@pytest.mark.parametrize("name", VARIANTS)
def test_split_hides_what_nbgrader_hides(name):
    source = "x = 1\n" + VARIANTS[name].format(body=SECRET) + "\nprint(x)"
    visible, hidden = markers.split(source)
    assert "\n".join(visible) == _nbgrader_visible(source)
    assert [line.strip() for line in hidden] == [SECRET]
    assert markers.has_hidden(source)


@pytest.mark.parametrize("name", VARIANTS)
def test_release_finds_hidden_lines_written_any_way(tmp_path, name):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "x = 1\n" + VARIANTS[name].format(body=SECRET))])
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, path)
    assert {line.strip() for line in markers.hidden_test_lines(path)} == {SECRET}


def test_a_source_without_markers_is_all_visible():
    assert markers.split("a\nb") == (["a", "b"], [])
    assert not markers.has_hidden("# hidden tests are elsewhere")
