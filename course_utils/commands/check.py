"""``course check NOTEBOOK``: run your exercise notebook and preview its score."""

from __future__ import annotations

import argparse

HELP = "run an exercise notebook and preview the points of each test cell"
NEEDS_TENSORFLOW = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help="your copy of an exercise notebook")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell")


def run(args: argparse.Namespace) -> int:
    from course_utils.commands._paths import existing
    from course_utils.errors import UsageError
    from course_utils.grading.check import CELL_TIMEOUT, format_preview, preview
    from course_utils.grading.repair import SubmissionError, read_notebook

    try:
        read_notebook(existing(args.notebook, "notebook", "file"))
    except SubmissionError as exc:  # not a notebook, or one nbformat cannot repair
        raise UsageError(f"{args.notebook}: {exc}") from None
    rows = preview(args.notebook, timeout=args.timeout or CELL_TIMEOUT)
    print(format_preview(rows))
    return 0 if all(r["points"] == r["max_points"] for r in rows) else 1
