"""The ``course`` command line: ``course <command> ...``.

Each command lives in its own module under :mod:`course_utils.commands` with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Problems a user can fix (a missing file, an
unknown model, an offline machine) are printed as one message and exit with status 2; a
traceback is only shown with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__package__}.commands"):
                continue  # a command not written yet
            raise
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        modules[name] = module
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser, modules = _build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    module = modules[args.command]
    try:
        if getattr(module, "NEEDS_TENSORFLOW", True):
            from .setup import quiet_tensorflow

            quiet_tensorflow()
        return int(module.run(args) or 0)
    except (CourseError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"course {args.command}: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        if args.debug:
            raise
        print(f"course {args.command}: missing package {exc.name or exc}: run 'make install' "
              "(or pip install the course again) and retry", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `course ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"course {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
