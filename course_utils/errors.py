"""Exceptions the course raises for problems a user can fix.

Each carries a message that says what is wrong and what to do; the ``course`` command line prints
it as one line (or one paragraph) and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

__all__ = ["CourseError", "OfflineError", "WeightsError", "DataError"]


class CourseError(Exception):
    """A problem the user can fix; the message says how."""


class OfflineError(CourseError):
    """Something needs the network and the machine has none."""


class WeightsError(CourseError):
    """Model weights are missing, corrupt or do not fit the model."""


class DataError(CourseError):
    """An image or dataset is missing, unreadable or malformed."""
