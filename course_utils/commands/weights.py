"""``course weights fetch|verify|list``: pre-stage, check and list backbone weights.

On a machine with internet, ``course weights fetch NAME... --dir DIR`` downloads (hash checked)
the weights; copy DIR to an offline machine and set ``COURSE_WEIGHTS_DIR=DIR`` (EfficientNet-Lite0
is not staged: its weights come from an installed package on every machine). ``course weights
verify`` re-hashes every known file without writing anything (exit 1 if any is bad);
``course weights list`` shows what works offline, with sizes and licences.
"""

from __future__ import annotations

import argparse
import sys

NEEDS_TENSORFLOW = False
HELP = "fetch, verify or list pretrained weights (for offline machines)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = sub.add_parser("fetch", help="download weights (hash checked) into the cache or --dir")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="registry backbones")
    fetch.add_argument("--all", action="store_true", help="every registry backbone")
    fetch.add_argument("--dir", help="folder to fill (default: the Keras cache)")
    verify = sub.add_parser("verify", help="check the hashes of the weights files in a folder")
    verify.add_argument("--dir", help="folder to check (default: the Keras cache)")
    sub.add_parser("list", help="list the weights usable offline, with sizes and licences")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _fetch(args: argparse.Namespace) -> int:
    from course_utils import backbones, weights
    from course_utils.errors import CourseError, UsageError
    from course_utils.weights.sources import InstalledPackage

    if args.all == bool(args.names):
        raise UsageError("name the backbones to fetch, or give --all (not both)")
    names = backbones.names() if args.all else [backbones.get(n).name for n in args.names]
    status = 0
    for name in names:
        source = backbones.get(name).weights
        if isinstance(source, InstalledPackage) and args.dir is not None:
            print(f"-   {name:<20} nothing to stage: its weights come from the installed "
                  f"package {source.pip_name}")
            continue
        try:
            for path in weights.fetch([name], dest=args.dir):
                print(f"ok  {name:<20} {path} ({_size(path.stat().st_size)})")
        except CourseError as exc:
            print(f"course weights fetch: {name}: {exc}", file=sys.stderr)
            status = 2
    return status


def _verify(args: argparse.Namespace) -> int:
    from course_utils import paths, weights

    folder = paths.models_dir() if args.dir is None else args.dir
    checked = weights.files_to_verify(args.dir)
    problems = weights.verify(args.dir)
    for path, problem in problems:
        print(f"BAD {path}: {problem}")
    print(f"{len(checked)} weights files checked in {folder}"
          + (" and installed packages" if args.dir is None else "") + f", {len(problems)} bad")
    if problems:
        print("fix: delete the bad files and run 'course weights fetch NAME' again (for a file "
              "inside an installed package: reinstall that package)", file=sys.stderr)
    return 1 if problems else 0


def _list() -> int:
    from course_utils import weights

    rows = weights.available_offline()
    print(f"{'name':<20} {'variant':<7} {'size':>9}  {'licence':<13} file")
    for w in rows:
        variant = "top" if w.include_top else "no top"
        print(f"{w.name:<20} {variant:<7} {_size(w.size):>9}  {w.licence.split(' ')[0]:<13} "
              f"{w.path}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action in ("fetch", "verify"):
        from course_utils.runtime.tf import quiet_tensorflow

        quiet_tensorflow()
    if args.action == "fetch":
        return _fetch(args)
    if args.action == "verify":
        return _verify(args)
    return _list()
