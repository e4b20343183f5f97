"""nbgrader's Execute with the test guard: tests that student code cannot switch off.

:class:`GuardedExecute` replaces ``nbgrader.preprocessors.Execute`` in the autograde pipeline
(nbgrader_config.py). It starts the guarded kernel (:mod:`.kernel`), in the bubblewrap sandbox
when ``GuardedExecute.sandbox`` is on (``course autograde`` turns it on). For each graded test
cell it sends one line that makes :func:`.guard.run` restore a clean state and run the test's
code, printing a fresh random token only if the code ran to its end. Then, on this side:

* a test cell keeps only its printed text and its error: what it displays or returns
  (``execute_result``, ``display_data``) is dropped, since nbgrader would read an
  ``execute_result`` shown before an error as partial credit;
* a test cell whose output holds neither its token nor an error did not run (an input
  transformer, a patched ``run_cell`` ...): it gets an error output, scores 0, and the
  submission is reported as tampered;
* two canaries run with a per-run secret, without the clean-up, in the state the test left: an
  ``assert False`` and a ``course_utils.checks`` call on a wrong value. Both must fail with the
  secret in their message; if one does not, failures no longer count in that kernel and the
  submission is reported as tampered.

The test cells that the judge scores outside the kernel (``GuardedExecute.judged``, read by the
grading process from the template's source notebook, never from the submission) are not run:
their checks and expected values never enter the kernel. After the last cell, one more cell that
is not part of the notebook asks the kernel the replay judge's questions
(:func:`.replay.answer`; it does nothing for an assignment without replayed tests) and has it
send the notebook variables a judged test names (``GuardedExecute.sends``: ex07's ``model``),
while the kernel still holds what the notebook defined.

Findings go to the JSON file named by ``GuardedExecute.report`` (outside the sandbox), with the
grade ids of the cells interrupted at the time limit and whether the kernel died; the grading
process (:mod:`.child`) reads it into the run's outcome: a tampered submission's score is
withheld.

A long-lived grading worker (:mod:`.child`) puts a kernel it started in advance into
:data:`PRESTARTED`; the next notebook runs in it instead of a new one (and the worker shuts it
down afterwards).
"""

from __future__ import annotations

import base64
import json
import secrets

import nbformat
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode

from .protocol import CELL_TIMEOUT
from .replay import ANSWERS, PLAN
from .sandbox import manager_class

__all__ = ["GuardedExecute", "PRESTARTED", "is_test_cell"]

PRESTARTED: list = []  # a started kernel manager for the next notebook (see the docstring)
DISPLAYED = ("execute_result", "display_data")  # outputs dropped from test cells
UNPROTECTED = ("plain nbgrader autograde gives no protection against cheating: no sandbox, no "
               "tampering verdict, and the tests the course judges outside the kernel are scored "
               "from the student's own kernel; grade a class with `course autograde`")


def is_test_cell(cell) -> bool:
    """A graded, non-answer code cell: the instructor's tests."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _call(code: str, token: str, clean: bool = True) -> str:
    payload = base64.b64encode(code.encode("utf-8")).decode("ascii")
    return (f"__import__('course_utils.grading.guard', fromlist=['run']).run("
            f"'{payload}', '{token}', clean={clean})")


def _take_token(cell: NotebookNode, token: str) -> bool:
    """Whether ``token`` is in the cell's stdout; remove it (and outputs left empty)."""
    found = False
    kept = []
    for output in cell.outputs:
        if output.output_type == "stream" and output.get("name") == "stdout" \
                and token in output.text:
            found = True
            output.text = output.text.replace(f"\n{token}\n", "").replace(token, "")
            if not output.text:
                continue
        kept.append(output)
    cell.outputs = kept
    return found


def _error(ename: str, message: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=message,
                                  traceback=[f"{ename}: {message}"])


class GuardedExecute(Execute):
    """nbgrader's Execute, with guarded test cells and canaries (see the module docstring)."""

    # Training cells take longer than nbgrader's 30 s default: the one per-cell limit, so
    # plain `nbgrader autograde` with nbgrader_config.py and `course autograde` agree.
    timeout = Integer(CELL_TIMEOUT, allow_none=True,
                      help="Seconds a cell may run before it is interrupted.").tag(config=True)
    sandbox = Bool(False, help="Run the kernel in the bubblewrap sandbox.").tag(config=True)
    report = Unicode("", help="JSON file for tampering findings (empty: not written).").tag(
        config=True)
    keep = Unicode("", help="Folder the kernel's saved models are copied into as it shuts "
                   "down, for the judge (empty: none).").tag(config=True)
    judged = List(Unicode(), help="grade_ids of the test cells the judge scores outside the "
                  "kernel: their code is not run in it.").tag(config=True)
    sends = List(Unicode(), help="notebook variables the kernel sends to the judge after the "
                 "last cell (.judge.sent_names).").tag(config=True)
    planned = List(Unicode(), help="stems of the notebooks whose functions the judge calls "
                   "after the last cell (a .replay plan).").tag(config=True)

    probe = None  # the cell preprocess appends: the kernel answers the grader's calls

    def create_kernel_manager(self):  # noqa: D102 (nbclient's API)
        self.kernel_manager_class = manager_class(self.sandbox)
        self.kernel_name = "python3"  # whatever kernel the submission's metadata names
        km = super().create_kernel_manager()
        km.keep = self.keep or None
        return km

    def preprocess(self, nb, resources=None, km=None):  # noqa: D102 (nbconvert's API)
        self.findings: list[str] = []
        self.timed_out: list[str] = []
        died = False
        if not self.report:  # plain nbgrader: nobody reads the findings or runs the judge
            self.log.warning(UNPROTECTED)
        if km is None and PRESTARTED:
            km = PRESTARTED.pop()
            km.keep = self.keep or None
        stem = (resources or {}).get("unique_key")
        probe = nbformat.v4.new_code_cell(
            f"__import__('course_utils.grading.replay', fromlist=['answer']).answer("
            f"{f'{PLAN}/{stem}'!r}, {f'{ANSWERS}-{stem}'!r}, sends={list(self.sends)!r}, "
            f"seconds={self.timeout!r})") \
            if stem and (stem in self.planned or self.sends) else None
        self.probe = probe
        if probe is not None:
            nb.cells.append(probe)
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            died = True
            raise
        finally:
            if probe is not None:
                self.nb.cells = [cell for cell in self.nb.cells if cell is not probe]
                nb.cells = [cell for cell in nb.cells if cell is not probe]
            if getattr(self, "kc", None) is not None and not self.owns_km:
                self.kc.stop_channels()  # nbclient leaves the channels of a kernel it was given
                self.kc = None
            if self.report:
                with open(self.report, "w", encoding="utf-8") as handle:
                    json.dump({"tampering": self.findings, "timed_out": self.timed_out,
                               "dead_kernel": died}, handle)

    def on_cell_executed(self, **kwargs):  # noqa: D102 (nbclient's hook)
        # A cell interrupted at the time limit gets the reply nbclient makes from
        # error_on_timeout; a kernel's own reply (an error a student raised by that name
        # included) always has a header.
        reply, cell = kwargs["execute_reply"], kwargs["cell"]
        if "header" not in reply and reply.get("content", {}).get("ename") == \
                self.error_on_timeout.get("ename"):
            self.timed_out.append(cell.metadata.get("nbgrader", {}).get("grade_id")
                                  or f"cell {kwargs['cell_index'] + 1}")
        return super().on_cell_executed(**kwargs)

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):  # noqa: D102 (nbclient's API)
        if cell is self.probe:
            # each of the grader's calls has the cell limit (replay.answer); the probe cell as
            # a whole has the notebook's, which the worker enforces
            limit, self.timeout = self.timeout, None
            try:
                return await super().async_execute_cell(cell, cell_index, execution_count,
                                                        store_history)
            finally:
                self.timeout = limit
        if not is_test_cell(cell) or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count,
                                                    store_history)
        grade_id = cell.metadata["nbgrader"].get("grade_id", f"cell {cell_index}")
        if grade_id in self.judged:  # the judge scores it: its checks never enter the kernel
            cell.outputs, cell.execution_count = [], None
            return cell
        original, token = cell.source, secrets.token_hex(16)
        cell.source = _call(original, token)
        try:
            await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            cell.source = original
        ran = _take_token(cell, token)
        # nbgrader gives partial credit from an execute_result shown before a test's error (any
        # non-number as full marks): what a test cell displays or returns never counts
        cell.outputs = [out for out in cell.outputs if out.output_type not in DISPLAYED]
        for output in cell.outputs:  # the guard's own frames say nothing about the answer
            if output.output_type == "error":
                output.traceback = [line for line in output.traceback
                                    if "course_utils.grading.guard" not in line
                                    and "guard.py" not in line]
        if not ran and not any(out.output_type == "error" for out in cell.outputs):
            self.findings.append(f"test {grade_id} neither passed nor failed: its code was "
                                 "changed or skipped at run time")
            cell.outputs.append(_error("TestDidNotRun", "this test did not run to its end "
                                       "(its code was changed or skipped at run time)"))
        await self._canaries(cell, cell_index, grade_id)
        return cell

    execute_cell = run_sync(async_execute_cell)  # nbclient binds the base class's otherwise

    async def _canaries(self, cell: NotebookNode, cell_index: int, grade_id: str) -> None:
        secret = secrets.token_hex(8)
        number = secrets.randbelow(1000)
        probes = {
            "an assert statement": f"assert False, 'canary {secret}'",
            "a course_utils.checks call": (
                "from course_utils import checks as _course_canary\n"
                f"_course_canary.expect_number({number}, {number + 1}, tol=0.5, "
                f"name='canary {secret}')"),
        }
        for what, code in probes.items():
            token = secrets.token_hex(16)
            probe = nbformat.v4.new_code_cell(_call(code, token, clean=False))
            try:
                await super().async_execute_cell(probe, cell_index, store_history=False)
            finally:
                self.nb.cells[cell_index] = cell  # nbclient stores the cell it ran at the index
            errors = [out for out in probe.outputs if out.output_type == "error"]
            if _take_token(probe, token) or not any(secret in str(out.get("evalue", ""))
                                                    for out in errors):
                self.findings.append(f"after test {grade_id}, {what} that must fail did not: "
                                     "failures no longer counted in this kernel")
