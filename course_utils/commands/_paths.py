"""Argument checks shared by the grading commands: a bad path is the user's to fix."""

from __future__ import annotations

from pathlib import Path

from course_utils.errors import UsageError

__all__ = ["existing", "course_root"]


def existing(path: str, what: str, kind: str = "any") -> Path:
    """Return ``path`` if it exists (as a file or folder when ``kind`` says so).

    Args:
        path: the path given on the command line.
        what: what it should be, for the message (``"notebook"``).
        kind: ``"file"``, ``"dir"`` or ``"any"``.

    Returns:
        The path.

    Raises:
        course_utils.errors.UsageError: it does not exist, or is not of the right kind.
    """
    found = Path(path).expanduser()
    ok = {"file": found.is_file, "dir": found.is_dir, "any": found.exists}[kind]()
    if not ok:
        raise UsageError(f"{path}: no such {what}")
    return found


def course_root(root: str | None) -> str | None:
    """Check a ``--root`` value: a folder with an ``nbgrader_config.py`` (None: the default).

    Raises:
        course_utils.errors.UsageError: the folder is not a course root.
    """
    if root is not None and not (Path(root).expanduser() / "nbgrader_config.py").is_file():
        raise UsageError(f"{root}: not a course root (no nbgrader_config.py); pass the folder "
                         "that holds nbgrader_config.py")
    return root
