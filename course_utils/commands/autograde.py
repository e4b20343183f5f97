"""``course autograde SUBMISSIONS``: grade a batch of notebooks with nbgrader, robustly."""

from __future__ import annotations

import argparse

HELP = ("grade submissions (nbgrader layout, flat <student>_<notebook>.ipynb folder or zip), "
        "each student in its own process")
NEEDS_TENSORFLOW = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", help="folder or zip of submitted notebooks")
    parser.add_argument("--assignment", help="only this assignment")
    parser.add_argument("--workers", type=int, default=1, help="students graded at once")
    parser.add_argument("--json", action="store_true", help="print one JSON object per student")
    parser.add_argument("--gradebook", help="gradebook file (default: <course>/gradebook.db)")
    parser.add_argument("--csv", help="CSV file (default: <course>/grades.csv)")
    parser.add_argument("--root", help="course root (default: this course)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from course_utils.grading.batch import autograde

    def show(result):
        if args.json:
            print(json.dumps(result.as_json()), flush=True)
        else:
            status = f"error: {result.error}" if result.error else "ok"
            print(f"{result.student:<24} {result.assignment:<28} "
                  f"{result.score:g}/{result.max_score:g}  {status}", flush=True)
        for note in result.notes:
            print(f"{result.student}/{result.assignment}: {note}", file=sys.stderr)

    results = autograde(args.submissions, assignment=args.assignment, workers=args.workers,
                        root=args.root, gradebook_path=args.gradebook, csv_path=args.csv,
                        on_result=show)
    failed = sum(r.error is not None for r in results)
    print(f"graded {len(results) - failed} of {len(results)} submissions"
          + (f"; {failed} could not be graded (see the error column)" if failed else ""),
          file=sys.stderr)
    return 0
