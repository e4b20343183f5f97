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
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code with your rights, without bubblewrap (unsafe: "
                             "only for code you trust, or where no sandbox can run)")
    parser.add_argument("--memory-limit", type=float, default=6.0, metavar="GIB",
                        help="memory one student's grading may use (default: 6 GiB)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from course_utils.commands._paths import course_root, existing
    from course_utils.errors import CourseError
    from course_utils.grading.batch import autograde

    existing(args.submissions, "folder or zip file of submissions")
    course_root(args.root)
    if args.workers < 1:
        raise CourseError(f"--workers must be at least 1, got {args.workers}")

    def show(result):
        if args.json:
            print(json.dumps(result.as_json()), flush=True)
        else:
            status = f"error: {result.error}" if result.error else "ok"
            print(f"{result.student:<24} {result.assignment:<28} "
                  f"{result.score:g}/{result.max_score:g}  {status}", flush=True)
        for note in result.notes:
            print(f"{result.student}/{result.assignment}: {note}", file=sys.stderr)

    if args.no_sandbox:
        print("WARNING: grading WITHOUT a sandbox (--no-sandbox): student code runs with your "
              "rights and can read or change your files; grades.csv records sandbox=no",
              file=sys.stderr)
    if args.memory_limit <= 0:
        raise CourseError(f"--memory-limit must be positive, got {args.memory_limit:g}")
    results = autograde(args.submissions, assignment=args.assignment, workers=args.workers,
                        root=args.root, gradebook_path=args.gradebook, csv_path=args.csv,
                        sandbox=not args.no_sandbox,
                        memory_limit=int(args.memory_limit * 2**30), on_result=show)
    failed = sum(r.error is not None for r in results)
    print(f"graded {len(results) - failed} of {len(results)} submissions"
          + (f"; {failed} could not be graded (see the error column)" if failed else ""),
          file=sys.stderr)
    return 0
