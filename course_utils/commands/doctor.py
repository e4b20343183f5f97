"""``course doctor``: print the environment report; exit 0 when the course can run."""

from __future__ import annotations

import argparse

NEEDS_TENSORFLOW = False  # the report must work where TensorFlow is broken or missing
HELP = "print the environment report and the fix for each problem"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="full, cpu, offline or auto (default: auto)")


def run(args: argparse.Namespace) -> int:
    import os

    from course_utils import doctor, env
    from course_utils.errors import UsageError

    try:
        env.select_profile(args.profile)  # validates the name
    except ValueError as exc:  # an unknown --profile (or COURSE_PROFILE): the user's to fix
        raise UsageError(str(exc)) from None
    if args.profile:
        os.environ["COURSE_PROFILE"] = args.profile
    results = doctor.checks()
    print(doctor.report(results))
    return 0 if doctor.can_run(results) else 1
