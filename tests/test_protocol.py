"""The grader's conversations with its grading and judge processes
(course_utils.grading.protocol)."""

from __future__ import annotations

import io

import pytest

from course_utils.grading import protocol
from course_utils.grading.protocol import Job, Judgement, Limits, Outcome, Spare, Verdicts


@pytest.mark.parametrize("message", [
    Job("autograde", "/tmp/course", "ex01", "alice", files="/src", preload="keras",
        sandbox=False, limits=Limits(5, 60, 2**30)),
    Job("generate", "/tmp/template", "ex01"),
    Spare(1234), Spare(),
    Outcome(False, error="the kernel died", dead_kernel=True),
    Outcome(True, tampering=["test_x neither passed nor failed"], timed_out_cells=["cell 3"]),
    Outcome(False, stopped="memory"),
    Judgement("replay", "/t/solutions/ex01/ex01.ipynb", "/t/kept", ["test_a", "test_b"], 300),
    Verdicts({"test_a": {"passed": False, "lines": ["x"], "error": ["AssertionError", "no"]}}),
    Verdicts(timed_out=True), Verdicts(failed="KeyError: 'x'"),
])
def test_each_message_crosses_as_one_json_line_and_comes_back_equal(message):
    stream = io.StringIO()
    protocol.send(stream, message)
    line = stream.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert protocol.receive(line) == message


@pytest.mark.parametrize("line", [
    "not json", "[]", '{"Job": {"kind": "autograde"}}',  # no root
    '{"Job": {"kind": "rm -rf", "root": "/"}}',  # no such kind
    '{"Outcome": {"success": true, "score": 3}}',  # no such field
    '{"Judgement": {"name": "replay", "source": "s", "kept": "k"}}',  # no cells, no timeout
    '{"Result": {"success": true}}',  # no such message
    '{"Job": {"kind": "execute", "root": "x"}, "Outcome": {"success": true}}',  # two at once
])
def test_anything_else_is_refused_with_the_line_in_the_message(line):
    with pytest.raises(ValueError, match="not a grading message"):
        protocol.receive(line)


def test_a_notebook_may_raise_the_time_limits_never_lower_them_or_the_memory_limit():
    base = Limits(120, 300, 2**30)
    assert base.raised({}) == base
    assert base.raised({"cell_timeout": 600, "notebook_timeout": 1200}) == Limits(600, 1200, 2**30)
    assert base.raised({"cell_timeout": 5, "notebook_timeout": 10, "memory_limit": 1}) == base
