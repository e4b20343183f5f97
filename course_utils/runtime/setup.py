"""``setup_notebook()``: the one call at the top of every lesson and exercise."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import warnings

from . import env

__all__ = ["setup_notebook", "seed_everything", "quiet_tensorflow"]


@contextlib.contextmanager
def _stderr_fd_silenced():
    """Send file descriptor 2 to /dev/null for the duration (C++ code writes there directly)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow() -> None:
    """Import TensorFlow without its C++ and absl start-up lines on stderr.

    nbgrader scores a test cell zero when it writes to stderr, and TF's start-up chatter ("All log
    messages before absl::InitializeLog() ...", "Could not find cuda drivers") is noise in a
    lesson. TF writes those lines from C++ before any log level applies, so the import itself runs
    with stderr pointed at /dev/null. Safe to call more than once.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if "tensorflow" not in sys.modules:
        with _stderr_fd_silenced():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``)."""
    import keras

    random.seed(seed)
    keras.utils.set_random_seed(seed)


def setup_notebook(profile: str | None = None, seed: int = 42, report: bool = True) -> env.Profile:
    """Prepare a notebook: quiet logs, seed, plot style, the environment report, the profile.

    Safe to call more than once.

    Args:
        profile: ``"full"``, ``"cpu"``, ``"offline"`` or None/``"auto"`` (see
            :func:`course_utils.env.select_profile`).
        seed: random seed for Python, NumPy and TensorFlow.
        report: print the environment report.

    Returns:
        The active :class:`course_utils.env.Profile`.

    Raises:
        ValueError: for an unknown profile name.
    """
    chosen = env.select_profile(profile)
    os.environ["COURSE_PROFILE"] = chosen.name  # helpers and subprocesses see the same choice
    quiet_tensorflow()
    seed_everything(seed)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.figsize": (8, 4.5), "figure.dpi": 100, "axes.grid": True,
                         "grid.alpha": 0.3, "axes.spines.top": False,
                         "axes.spines.right": False})
    if chosen.mixed_precision and env.gpu_names():
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
    if report:
        from . import doctor

        print(doctor.report())
    return chosen
