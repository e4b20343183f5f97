"""Before grading, on the instructor's side: refuse what would make grades wrong, prepare what
kernels need.

``course autograde``, ``course feedback`` and each Dask worker call these once, before any
student's notebook runs: :func:`asserts_enabled_or_refuse` (assert statements must fail),
:func:`require` (a sandbox can be made here, unless the instructor asked for none),
:func:`warm_caches` (what sandboxed kernels read but cannot write) and
:func:`ensure_tools_on_path` (nbgrader's Gradebook runs ``alembic`` from PATH).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import CourseError
from .processes import kernel_env
from .sandbox import bwrap_command

__all__ = ["INSTALL_HINT", "asserts_enabled_or_refuse", "ensure_tools_on_path",
           "unavailable_reason", "require", "warm_caches"]

INSTALL_HINT = ("install bubblewrap 0.8 or later (Debian/Ubuntu: `apt-get install bubblewrap`; "
                "Fedora: `dnf install bubblewrap`) on a Linux machine with user namespaces, or pass "
                "--no-sandbox to grade without one (student code then runs with your rights)")


def ensure_tools_on_path() -> None:
    """Put this Python's bin folder on PATH: nbgrader's Gradebook runs ``alembic`` from it."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


@functools.cache
def unavailable_reason() -> str | None:
    """Why a sandbox cannot be made here, or None when ``bwrap`` works."""
    if not sys.platform.startswith("linux"):
        return f"the grading sandbox needs Linux (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if shutil.which("prlimit") is None:
        return "prlimit (util-linux) is not installed"
    with tempfile.TemporaryDirectory(prefix="course-sandbox-probe-") as tmp:
        probe = subprocess.run([*bwrap_command(Path(tmp), Path(tmp)), sys.executable, "-c", ""],
                               capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap cannot create a sandbox here ({last})"
    return None


def require() -> None:
    """Raise a one-line :class:`CourseError` when grading cannot be sandboxed here."""
    reason = unavailable_reason()
    if reason:
        raise CourseError(f"refusing to grade without a sandbox: {reason}; {INSTALL_HINT}")


# What the offline profile reads from Keras's cache and the data folder, which a sandboxed
# kernel sees read-only: built once here, outside the sandbox (a no-op when already there).
_WARM = """
from course_utils import datasets, env, weights
profile = env.select_profile("offline")
datasets.offline_dataset(samples_per_class=profile.samples_per_class)
for include_top in (True, False):
    weights.resolve("efficientnet_lite0", include_top)
from course_utils.checks import experiment
experiment.data_folder()
"""


def warm_caches() -> None:
    """Build the offline datasets and Lite0's converted weights before sandboxed kernels need
    them (they cannot write the caches, and must not share a writable one).

    Raises:
        CourseError: building them failed (the last line of the error says why).
    """
    done = subprocess.run([sys.executable, "-c", _WARM], env=kernel_env(), capture_output=True,
                          text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CourseError(f"could not prepare the offline dataset and weights for the sandbox: "
                          f"{last}; run `course doctor`")


def asserts_enabled_or_refuse() -> None:
    """The canary: refuse to grade when ``assert`` would be skipped.

    Raises:
        CourseError: PYTHONOPTIMIZE is set, Python runs with -O, or a kernel-environment Python
            does not fail ``assert False``. Every test cell would pass otherwise.
    """
    why = None
    if os.environ.get("PYTHONOPTIMIZE"):
        why = f"PYTHONOPTIMIZE={os.environ['PYTHONOPTIMIZE']} is set"
    elif sys.flags.optimize:
        why = "Python runs with -O"
    elif subprocess.run([sys.executable, "-c", "assert False"], env=kernel_env(),
                        capture_output=True).returncode == 0:
        why = "a grading Python ignores assert statements"
    if why:
        raise CourseError(f"refusing to grade: {why}, so assert statements in test cells would "
                          "be skipped and every answer would pass. Unset PYTHONOPTIMIZE / drop -O "
                          "and run again")
