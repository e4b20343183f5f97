"""The ``course`` command line: ``course <command> ...``.

Each command lives in its own module under :mod:`course_utils.commands` with ``HELP``,
``NEEDS_TENSORFLOW``, ``add_arguments(parser)`` and ``run(args) -> int``.

Error policy:

* a problem the user can fix (a missing file, an unknown model, an offline machine) is a
  :class:`~course_utils.errors.CourseError`: one line on stderr, exit status 2 (``--debug``
  shows its traceback); a missing third-party package is treated the same way;
* any other exception is a bug in the course: its traceback is printed with a line asking to
  report it, exit status 1 (``--debug`` lets it propagate);
* a closed pipe (``course backbones | head -1``) ends the command quietly with status 0;
* Ctrl-C ends it with status 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from .errors import CourseError

__all__ = ["main", "COMMANDS"]

COMMANDS = (
    "doctor",
    "predict",
    "backbones",
    "weights",
    "bench",
    "release",
    "autograde",
    "feedback",
    "check",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default prints usage + exits 2
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = _Parser(prog="course", description="The pretrained-models course command line.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = {}
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        modules[name] = module
    return parser, modules


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot hit the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured output)
        pass


def _missing_package(exc: ModuleNotFoundError) -> bool:
    """True for a third-party package that is not installed (not a bug in the course)."""
    return bool(exc.name) and exc.name.split(".")[0] != __package__


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after ``course`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 success, 1 a command's own failure or a bug, 2 a user error, 130
        interrupted.

    Raises:
        SystemExit: from argparse, for ``--help`` or unusable arguments (status 2).
    """
    parser, modules = _build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    module = modules[args.command]
    try:
        if module.NEEDS_TENSORFLOW:
            from .runtime.tf import quiet_tensorflow

            quiet_tensorflow()
        status = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return status
    except BrokenPipeError:  # `course ... | head`: the reader has gone, nothing to say
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        print(f"course {args.command}: interrupted", file=sys.stderr)
        return 130
    except CourseError as exc:
        if args.debug:
            raise
        print(f"course {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, ModuleNotFoundError) and _missing_package(exc):
            print(f"course {args.command}: missing package {exc.name}: run 'make install' "
                  "(or pip install the course again) and retry", file=sys.stderr)
            return 2
        traceback.print_exc()
        print(f"course {args.command}: unexpected {type(exc).__name__}: this is a bug in the "
              "course, not your mistake; please report it with the traceback above",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
