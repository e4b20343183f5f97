"""``check``: a student's score preview, computed the way nbgrader scores test cells."""

from __future__ import annotations

from pathlib import Path

from ..errors import CourseError
from .processes import kernel_env
from .protocol import CELL_TIMEOUT, Limits
from .runner import limits_for

__all__ = ["preview", "format_preview", "nbformat_error"]


def preview(notebook: Path | str, timeout: int = CELL_TIMEOUT) -> list[dict]:
    """Run ``notebook`` (a copy, in its own folder) and score each graded cell.

    Each cell may run ``timeout`` seconds, or longer when the notebook's metadata asks for it
    (``"course": {"cell_timeout": s}``, as the grader allows: :func:`.runner.limits_for`).

    Returns:
        One dict per graded cell: grade_id, points, max_points, message (the error, if any).

    Raises:
        FileNotFoundError: no such notebook.
        CourseError: the kernel died.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    from nbgrader import utils

    from .preprocessors import StripStderr

    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such notebook")
    from .repair import SubmissionError, read_notebook

    try:
        nb = read_notebook(path)
    except SubmissionError as exc:
        raise ValueError(f"{path}: {exc}") from None
    timeout = limits_for(path, Limits(cell_timeout=timeout)).cell_timeout  # ex07 asks more
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        client.execute(env=kernel_env())
    except DeadKernelError:
        raise CourseError(f"{path}: the kernel died while running it (os._exit, a crash or out "
                          "of memory?); fix the cell that stops Python and try again") from None
    rows = []
    for index, cell in enumerate(nb.cells):
        if not utils.is_grade(cell) or cell.cell_type != "code":
            continue
        StripStderr().preprocess_cell(cell, {}, index)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        try:
            points, max_points = utils.determine_grade(cell)
        except ValueError as exc:  # a test cell whose last line shows a number > its points
            points, max_points = 0, cell.metadata.nbgrader["points"]
            errors = errors or [nbformat_error(str(exc))]
        rows.append({"grade_id": cell.metadata.nbgrader["grade_id"],
                     "points": float(points or 0), "max_points": float(max_points),
                     "message": f"{errors[0].ename}: {errors[0].evalue}" if errors else None})
    return rows


def nbformat_error(message: str):
    """An ``error`` output node carrying ``message``."""
    from nbformat.v4 import new_output

    return new_output("error", ename="GradingError", evalue=message, traceback=[message])


def format_preview(rows: list[dict]) -> str:
    """A table of the preview, with the total."""
    lines = [f"{'cell':<32} {'points':>9}  message"]
    for row in rows:
        score = f"{row['points']:g}/{row['max_points']:g}"
        lines.append(f"{row['grade_id']:<32} {score:>9}  {row['message'] or 'ok'}")
    total = sum(r["points"] for r in rows)
    maximum = sum(r["max_points"] for r in rows)
    lines.append(f"{'total':<32} {f'{total:g}/{maximum:g}':>9}  (hidden tests may lower it)")
    return "\n".join(lines)
