"""Exceptions the course raises for problems a user can fix.

Each carries a message that says what is wrong and what to do; the ``course`` command line prints
it as one line (or one paragraph) and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

__all__ = [
    "CourseError", "UsageError", "OfflineError", "WeightsError", "DataError",
    "UnsupportedKerasError",
]


class CourseError(Exception):
    """A problem the user can fix; the message says how."""


class UsageError(CourseError, ValueError):
    """An argument value the user can fix (an unknown name, an option out of range).

    Also a ``ValueError``, so library callers can catch it as the usual bad-argument error.
    """


class OfflineError(CourseError):
    """Something needs the network and the machine has none."""


class WeightsError(CourseError):
    """Model weights are missing, corrupt or do not fit the model."""


class DataError(CourseError):
    """An image or dataset is missing, unreadable or malformed."""


class UnsupportedKerasError(CourseError):
    """The installed Keras lacks an internal a check or helper needs (the message names the version).

    Raised instead of passing: see :mod:`course_utils.runtime.keras_internals`.
    """
