"""``course feedback``: per-student HTML feedback from a run with only the visible tests."""

from __future__ import annotations

import argparse

HELP = "write feedback/<student>/<assignment>/*.html for autograded submissions"
NEEDS_TENSORFLOW = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", help="only this assignment")
    parser.add_argument("--gradebook", help="gradebook file (default: <course>/gradebook.db)")
    parser.add_argument("--root", help="course root (default: this course)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the students' notebooks without bubblewrap (unsafe)")
    parser.add_argument("--workers", type=int, default=1, help="students run at once")


def run(args: argparse.Namespace) -> int:
    from course_utils.commands._paths import course_root
    from course_utils.grading.feedback import feedback

    course_root(args.root)
    if args.workers < 1:
        from course_utils.errors import CourseError

        raise CourseError(f"--workers must be at least 1, got {args.workers}")
    if args.no_sandbox:
        import sys

        print("WARNING: running student notebooks WITHOUT a sandbox (--no-sandbox)",
              file=sys.stderr)
    for path in feedback(args.assignment, root=args.root, gradebook_path=args.gradebook,
                         sandbox=not args.no_sandbox, workers=args.workers):
        print(f"wrote {path}")
    return 0
