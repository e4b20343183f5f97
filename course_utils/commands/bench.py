"""``course bench``: measure the course's speed figures on this machine (``make bench``)."""

from __future__ import annotations

import argparse

HELP = "measure feature-extraction throughput, cached-head speed-up, lesson and grading times"
NEEDS_TENSORFLOW = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grading", action="store_true",
                        help="also measure autograding throughput (takes a few minutes)")


def run(args: argparse.Namespace) -> int:
    from course_utils import bench

    print(bench.run(grading=args.grading))
    return 0
