"""A small nbgrader preprocessor registered in the autograde pipeline (see nbgrader_config.py)."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

from . import markers

__all__ = ["StripStderr", "TrimHiddenTracebacks"]


class StripStderr(NbGraderPreprocessor):
    """Remove ``stderr`` stream outputs from code cells before nbgrader scores them.

    nbgrader gives a test cell zero when it wrote anything to stderr, and TensorFlow, absl and
    Python warnings write there for reasons that are not the student's. ``error`` outputs (a
    failed assert, an exception) are kept, so a failing test still scores zero.
    """

    def preprocess_cell(self, cell, resources, cell_index):  # noqa: D102 (nbconvert's API)
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs
                            if not (out.output_type == "stream" and out.get("name") == "stderr")]
        return cell, resources


class TrimHiddenTracebacks(NbGraderPreprocessor):
    """In cells with hidden tests, reduce error tracebacks to ``Name: message``.

    A traceback quotes the failing line, which may be a hidden test; the message (written by
    :mod:`course_utils.checks`) says what is wrong without it. Runs before nbgrader's
    ``ClearHiddenTests`` in feedback, which then removes the hidden code itself.
    """

    def preprocess_cell(self, cell, resources, cell_index):  # noqa: D102 (nbconvert's API)
        if cell.cell_type == "code" and markers.has_hidden(cell.source):
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
