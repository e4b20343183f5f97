"""``release``: regenerate ``exercises/`` from ``solutions/`` with nbgrader generate_assignment.

Generation runs in a private course folder and the result is checked before anything is
written: no solution region, no hidden test (marker or code) and no file besides the notebook
(unless listed in :data:`EXTRA_FILES`) may reach students. Output is deterministic.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat

from ..errors import CourseError
from . import course, markers, templates

__all__ = ["EXTRA_FILES", "FORBIDDEN", "release", "check_released"]

EXTRA_FILES: dict[str, tuple[str, ...]] = {}  # assignment -> files students also receive
FORBIDDEN = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def check_released(folder: Path, source_notebook: Path, allowed: tuple[str, ...] = ()) -> None:
    """Raise CourseError if anything instructor-only is in a generated assignment folder."""
    hidden = markers.hidden_test_lines(source_notebook)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name != source_notebook.name and name not in allowed:
            raise CourseError(f"{name} would be released with {folder.name}: remove it from "
                              f"solutions/{folder.name}/ or list it in EXTRA_FILES")
        if path.suffix != ".ipynb":
            continue
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        for marker in FORBIDDEN:
            if marker in text:
                raise CourseError(f"{folder.name}/{name} still contains '### {marker}': check "
                                  "the markers in the source notebook")
        leaked = sorted(line for line in hidden if line in text)
        if leaked:
            raise CourseError(f"{folder.name}/{name} contains hidden test code: {leaked[0]!r}")


def _normalise(notebook: Path) -> None:
    """Stable output: no outputs, no execution counts, sorted keys (nbformat.write)."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, notebook)


def release(assignments: list[str] | None = None, dest: Path | str | None = None,
            root: Path | str | None = None) -> list[Path]:
    """Generate student versions of ``assignments`` (default: all) into ``dest``.

    Args:
        assignments: assignment names; None for every one in ``solutions/``.
        dest: folder to write ``<assignment>/<notebook>.ipynb`` into (default
            ``<root>/exercises``). Each assignment folder is replaced as a whole.
        root: course root.

    Returns:
        Paths of the generated notebooks.

    Raises:
        CourseError: unknown assignment, generation failed, or instructor-only content leaked.
    """
    root = course.course_root(root)
    known = course.assignments(root)
    names = list(assignments) if assignments else sorted(known)
    for name in names:
        course.source_notebook(root, name)
    dest = Path(dest) if dest is not None else root / course.RELEASE
    written = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        for name in names:
            generated = templates.prepare_template(root, name, Path(tmp)) / course.RELEASE / name
            notebook = generated / f"{known[name]}.ipynb"
            _normalise(notebook)
            check_released(generated, course.source_notebook(root, name),
                           EXTRA_FILES.get(name, ()))
            target = dest / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(generated, target)
            written.append(target / notebook.name)
    return written
