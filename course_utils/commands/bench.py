"""``course bench``: measure the course's speed figures on this machine (``make bench``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from course_utils.errors import CourseError

HELP = "measure feature-extraction throughput, cached-head speed-up, lesson and grading times"
NEEDS_TENSORFLOW = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grading", action="store_true",
                        help="also measure autograding throughput (takes a few minutes)")
    parser.add_argument("--lessons", type=Path, metavar="DIR",
                        help="also time each lesson notebook in DIR (the repository's notebooks/) "
                             "in the offline profile, one at a time (about 4 minutes)")


def run(args: argparse.Namespace) -> int:
    from course_utils import bench

    if args.lessons is not None and not any(args.lessons.glob(bench.LESSON_GLOB)):
        raise CourseError(f"no lesson notebooks (NN_name.ipynb) in {args.lessons}: pass the "
                          "repository's notebooks/ folder")
    print(bench.run(grading=args.grading, lessons=args.lessons))
    return 0
