"""Import TensorFlow quietly (a leaf): its C++ start-up lines never reach stderr."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

__all__ = ["quiet_tensorflow"]


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
