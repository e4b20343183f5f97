"""The grading kernel: IPython's kernel with the test guard's snapshot taken before student code.

Started as ``python -m course_utils.grading.kernel -f CONNECTION_FILE`` by
:mod:`.sandbox` (inside bubblewrap) or :class:`.sandbox.GuardedKernelManager` (without). It
imports what test cells use (``course_utils.checks``, numpy) and the modules named in
``COURSE_KERNEL_PRELOAD`` (comma-separated: a pre-started kernel imports TensorFlow while it
waits for its student), records the pristine state with :func:`.guard.snapshot` and only then
serves the notebook.
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Initialise an IPython kernel, snapshot it for :mod:`.guard`, and serve it."""
    from ipykernel.kernelapp import IPKernelApp

    import course_utils.checks  # noqa: F401 (imported before student code, so it is protected)

    from . import guard

    for name in filter(None, os.environ.get("COURSE_KERNEL_PRELOAD", "").split(",")):
        importlib.import_module(name.strip())
    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:] if argv is None else argv)
    guard.snapshot(app.shell, app.kernel)
    app.start()


if __name__ == "__main__":
    main()
