"""``course feedback``: per-student HTML feedback, with hidden tests removed."""

from __future__ import annotations

import argparse

HELP = "write feedback/<student>/<assignment>/*.html for autograded submissions"
NEEDS_TENSORFLOW = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", help="only this assignment")
    parser.add_argument("--gradebook", help="gradebook file (default: <course>/gradebook.db)")
    parser.add_argument("--root", help="course root (default: this course)")


def run(args: argparse.Namespace) -> int:
    from course_utils.grading.feedback import feedback

    for path in feedback(args.assignment, root=args.root, gradebook_path=args.gradebook):
        print(f"wrote {path}")
    return 0
