"""Find submissions: nbgrader's layout, a flat LMS download folder, or a zip of either."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..errors import CourseError

__all__ = ["Submission", "find_submissions", "unpack"]


@dataclasses.dataclass(frozen=True)
class Submission:
    """One student's notebook for one assignment (``problem``: why it cannot be graded)."""

    student: str
    assignment: str
    path: Path | None
    note: str | None = None
    problem: str | None = None


def unpack(path: Path, workdir: Path) -> Path:
    """Return ``path`` itself, or the folder a zip file was extracted into under ``workdir``."""
    if path.is_file() and zipfile.is_zipfile(path):
        target = Path(tempfile.mkdtemp(prefix="unzipped-", dir=workdir))
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():  # refuse absolute paths and ".." (zip slip)
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise CourseError(f"{path}: unsafe path {member.filename!r} in the zip file")
            archive.extractall(target)
        entries = [p for p in target.iterdir() if not p.name.startswith(("__MACOSX", "."))]
        return entries[0] if len(entries) == 1 and entries[0].is_dir() and not any(
            p.suffix == ".ipynb" for p in target.iterdir()) else target
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder or zip file of submissions")
    return path


def find_submissions(root: Path, notebooks: dict[str, str],
                     assignment: str | None = None) -> list[Submission]:
    """List submissions under ``root``.

    Args:
        root: ``<root>/<student>/<assignment>/<notebook>.ipynb`` (nbgrader's layout) or a flat
            folder of ``<student>_<notebook>.ipynb`` files (an LMS download).
        notebooks: assignment name -> notebook stem, for the assignments that exist.
        assignment: only this assignment.

    Returns:
        Submissions sorted by assignment then student.

    Raises:
        CourseError: nothing recognisable was found.
    """
    wanted = {assignment: notebooks[assignment]} if assignment else notebooks
    found: dict[tuple[str, str], Submission] = {}
    for name, stem in wanted.items():
        for folder in root.glob(f"*/{name}/"):
            student = folder.parent.name
            found[(student, name)] = _in_folder(student, name, stem, folder)
    for path in sorted(root.glob("*.ipynb")):  # flat: <student>_<notebook>.ipynb
        for name, stem in wanted.items():
            suffix = f"_{stem}.ipynb"
            if path.name.endswith(suffix) and len(path.name) > len(suffix):
                student = path.name[: -len(suffix)]
                found[(student, name)] = Submission(student, name, path)
    if not found:
        names = ", ".join(f"<student>/{a}/{s}.ipynb or <student>_{s}.ipynb"
                          for a, s in sorted(wanted.items()))
        raise CourseError(f"{root}: no submissions found; expected {names}")
    return [found[key] for key in sorted(found, key=lambda key: key[::-1])]


def _in_folder(student: str, assignment: str, stem: str, folder: Path) -> Submission:
    """The notebook to grade in ``<student>/<assignment>/``: the expected one, else the only one."""
    expected = folder / f"{stem}.ipynb"
    others = sorted(p.name for p in folder.glob("*.ipynb") if p != expected)
    if expected.is_file():
        note = f"ignored other notebooks: {', '.join(others)}" if others else None
        return Submission(student, assignment, expected, note=note)
    if len(others) == 1:
        return Submission(student, assignment, folder / others[0],
                          note=f"graded {others[0]} in place of {stem}.ipynb")
    found = f"found {', '.join(others)}" if others else "the folder has no notebook"
    return Submission(student, assignment, None,
                      problem=f"no {stem}.ipynb in {student}/{assignment}/ ({found}); submit "
                              f"the assignment's notebook as {stem}.ipynb")


def copy_into(submission: Submission, submitted_dir: Path, stem: str) -> Path:
    """Copy a submission to ``<submitted_dir>/<student>/<assignment>/<stem>.ipynb``."""
    target = submitted_dir / submission.student / submission.assignment / f"{stem}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(submission.path, target)
    return target
