"""``course backbones``: the backbone registry as a table or JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json

NEEDS_TENSORFLOW = False
HELP = "list the backbone registry (family, year, input size, preprocessing, top-1)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from course_utils import backbones

    entries = list(backbones.BACKBONES.values())
    if args.json:
        print(json.dumps([dataclasses.asdict(e) for e in entries], indent=2))
        return 0
    header = f"{'name':<20} {'family':<13} {'year':>4} {'input':>5}  {'preprocessing':<8} {'top-1':>6}"
    print(header)
    print("-" * len(header))
    for e in entries:
        print(f"{e.name:<20} {e.family:<13} {e.year:>4} {e.input_size:>5}  "
              f"{e.preprocessing:<8} {e.top1:>6.1%}")
    return 0
