"""``course release``: regenerate exercises/ from solutions/ (nbgrader generate_assignment)."""

from __future__ import annotations

import argparse

HELP = "regenerate exercises/ from solutions/ and refuse if answers or hidden tests would leak"
NEEDS_TENSORFLOW = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    parser.add_argument("--dest", help="write here instead of exercises/")


def run(args: argparse.Namespace) -> int:
    from course_utils.grading.release import release

    for path in release(args.assignments or None, args.dest):
        print(f"released {path}")
    return 0
