"""Where the course lives: its root folder, its assignments and their source notebooks."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CourseError

__all__ = ["SOURCE", "RELEASE", "course_root", "assignments", "source_notebook"]

SOURCE = "solutions"  # CourseDirectory.source_directory in nbgrader_config.py
RELEASE = "exercises"  # CourseDirectory.release_directory


def course_root(root: Path | str | None = None) -> Path:
    """The course root: ``root``, else $COURSE_ROOT, else the nearest folder upwards from the
    working directory with an ``nbgrader_config.py``, else the repository this package is in."""
    if root is not None or os.environ.get("COURSE_ROOT"):
        path = Path(root or os.environ["COURSE_ROOT"]).resolve()
        if not (path / "nbgrader_config.py").is_file():
            raise FileNotFoundError(f"{path}: not a course root (no nbgrader_config.py)")
        return path
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / SOURCE).is_dir():
            return folder
    return Path(__file__).resolve().parents[2]


def assignments(root: Path) -> dict[str, str]:
    """Assignment name -> notebook stem, for every ``solutions/<name>/<stem>.ipynb``."""
    found = {}
    for folder in sorted((root / SOURCE).glob("*/")):
        notebooks = sorted(folder.glob("*.ipynb"))
        if len(notebooks) == 1:
            found[folder.name] = notebooks[0].stem
        elif len(notebooks) > 1:
            raise CourseError(f"{folder}: one notebook per assignment, found "
                              f"{[p.name for p in notebooks]}")
    return found


def source_notebook(root: Path, assignment: str) -> Path:
    """Path of ``assignment``'s source notebook; CourseError for an unknown assignment."""
    known = assignments(root)
    if assignment not in known:
        raise CourseError(f"unknown assignment {assignment!r}; known: "
                          f"{', '.join(known) or f'none (no {SOURCE}/<name>/<name>.ipynb)'}")
    return root / SOURCE / assignment / f"{known[assignment]}.ipynb"
