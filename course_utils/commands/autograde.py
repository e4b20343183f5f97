"""``course autograde SUBMISSIONS``: grade a batch of notebooks with nbgrader, robustly."""

from __future__ import annotations

import argparse

HELP = ("grade submissions (nbgrader layout, flat <student>_<notebook>.ipynb folder or zip), "
        "each student with a kernel of its own, here or on a Dask cluster")
NEEDS_TENSORFLOW = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", help="folder or zip of submitted notebooks")
    parser.add_argument("--assignment", help="only this assignment")
    parser.add_argument("--workers", type=int, default=1, help="students graded at once")
    parser.add_argument("--json", action="store_true", help="print one JSON object per student")
    parser.add_argument("--gradebook", help="gradebook file (default: <course>/gradebook.db)")
    parser.add_argument("--csv", help="CSV file (default: <course>/grades.csv)")
    parser.add_argument("--root", help="course root (default: this course)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code with your rights, without bubblewrap (unsafe: "
                             "only for code you trust, or where no sandbox can run)")
    parser.add_argument("--memory-limit", type=float, default=6.0, metavar="GIB",
                        help="memory one student's grading may use (default: 6 GiB)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on a Dask cluster: the scheduler's address, e.g. "
                             "tcp://10.0.0.5:8786 (--workers is then the cluster's)")
    parser.add_argument("--cold", action="store_true",
                        help="a new grading process and kernel per student, none started in "
                             "advance (slower; the same grades)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from course_utils.commands._paths import course_root, existing
    from course_utils.errors import CourseError
    from course_utils.grading.batch import autograde

    existing(args.submissions, "folder or zip file of submissions")
    course_root(args.root)
    if args.workers < 1:
        raise CourseError(f"--workers must be at least 1, got {args.workers}")

    progress = Progress(bar=not args.json and sys.stderr.isatty())

    def show(result):
        if args.json:
            line = json.dumps(result.as_json())
        else:
            status = f"error: {result.error}" if result.error else "ok"
            line = (f"{result.student:<24} {result.assignment:<28} "
                    f"{result.score:g}/{result.max_score:g}  {status}")
        progress.write(line)
        for note in result.notes:
            progress.write(f"{result.student}/{result.assignment}: {note}", sys.stderr)
        progress.update(failed=result.error is not None)

    if args.no_sandbox:
        print("WARNING: grading WITHOUT a sandbox (--no-sandbox): student code runs with your "
              "rights and can read or change your files; grades.csv records sandbox=no",
              file=sys.stderr)
    if args.memory_limit <= 0:
        raise CourseError(f"--memory-limit must be positive, got {args.memory_limit:g}")
    try:
        results = autograde(args.submissions, assignment=args.assignment, workers=args.workers,
                            root=args.root, gradebook_path=args.gradebook, csv_path=args.csv,
                            sandbox=not args.no_sandbox,
                            memory_limit=int(args.memory_limit * 2**30), warm=not args.cold,
                            scheduler=args.scheduler, on_result=show, on_start=progress.start)
    finally:
        progress.close()
    failed = sum(r.error is not None for r in results)
    print(f"graded {len(results) - failed} of {len(results)} submissions"
          + (f"; {failed} could not be graded (see the error column)" if failed else ""),
          file=sys.stderr)
    return 0


class Progress:
    """Students done / total, failures so far and the time left: a tqdm bar on a terminal, else
    a plain line on stderr after each student (for logs; ``--json`` prints none)."""

    def __init__(self, bar: bool) -> None:
        self.bar = bar
        self._tqdm = None
        self.total = self.done = self.failed = 0
        self._start = 0.0

    def start(self, total: int) -> None:
        """Called once the submissions are found."""
        import time

        self.total, self._start = total, time.monotonic()
        if self.bar:
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, unit="student", dynamic_ncols=True)

    def write(self, line: str, file=None) -> None:
        """Print a line without breaking the bar."""
        import sys

        if self._tqdm is not None:
            self._tqdm.write(line, file=file or sys.stdout)
        else:
            print(line, file=file or sys.stdout, flush=True)

    def update(self, failed: bool) -> None:
        """One more student done."""
        import sys
        import time

        self.done += 1
        self.failed += failed
        if self._tqdm is not None:
            self._tqdm.set_postfix(failed=self.failed, refresh=False)
            self._tqdm.update()
        elif self.total:
            left = (time.monotonic() - self._start) / self.done * (self.total - self.done)
            eta = f"{left:.0f} s" if left < 90 else f"{left / 60:.0f} min"
            print(f"progress: {self.done}/{self.total} graded, {self.failed} could not be "
                  f"graded, about {eta} left", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Remove the bar."""
        if self._tqdm is not None:
            self._tqdm.close()
