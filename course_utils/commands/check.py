"""``course check NOTEBOOK``: run your exercise notebook and preview its score."""

from __future__ import annotations

import argparse

HELP = "run an exercise notebook and preview the points of each test cell"
NEEDS_TENSORFLOW = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help="your copy of an exercise notebook")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell")


def run(args: argparse.Namespace) -> int:
    from course_utils.grading.check import CELL_TIMEOUT, format_preview, preview

    rows = preview(args.notebook, timeout=args.timeout or CELL_TIMEOUT)
    print(format_preview(rows))
    return 0 if all(r["points"] == r["max_points"] for r in rows) else 1
