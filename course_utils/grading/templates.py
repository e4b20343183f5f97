"""An assignment's template course: what every grader of that assignment copies.

A template holds the assignment's source, its release and gradebook made by ``nbgrader
generate_assignment`` (in a one-shot grading process, :mod:`.workers`), and the replay judge's
plan beside each source notebook. :func:`template` keeps one per assignment in the cache until
its source, the nbgrader configuration or the versions change; ``course release`` builds a fresh
one (:func:`prepare_template`) to compare with ``exercises/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import judge, replay
from .course import SOURCE
from .processes import last_line
from .protocol import NOTEBOOK_TIMEOUT, Job
from .workers import Worker

__all__ = ["TEMPLATE_FORMAT", "prepare_template", "template"]

# The template cache's key holds this and the versions, not the grading code: bump it when what
# a template holds changes (2: replay plans; 3: seeds and rebound variables, no nested calls;
# 4: model state digests that leave out the optimizer's per-process name)
TEMPLATE_FORMAT = 4



def prepare_template(root: Path, assignment: str, workdir: Path) -> Path:
    """Make a private course with ``assignment``'s source, release and gradebook."""
    template = workdir / f"template-{assignment}"
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", template)
    shutil.copytree(root / SOURCE / assignment, template / SOURCE / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    with Worker(once=True) as worker:
        outcome = worker.run(Job("generate", str(template), assignment, sandbox=False))
    from ..errors import CourseError

    if not outcome.success:
        raise CourseError(f"nbgrader generate_assignment failed for {assignment}: "
                          f"{outcome.error}")
    for notebook in sorted((template / SOURCE / assignment).glob("*.ipynb")):
        try:
            judge.check_state(notebook)
        except ValueError as exc:
            raise CourseError(str(exc)) from None
        _plan_replay(notebook)
    return template


def _plan_replay(notebook: Path) -> None:
    """Record the replay judge's questions for ``notebook`` (:func:`.replay.make_plan`) beside
    it, in a process of its own, when it has replayed tests."""
    import subprocess
    import sys

    import nbformat

    from ..errors import CourseError
    from .processes import kernel_env

    if not replay.replayed_cells(nbformat.read(notebook, as_version=4)):
        return
    try:
        done = subprocess.run([sys.executable, "-m", replay.__name__, "plan", str(notebook)],
                              cwd=notebook.parent, env=kernel_env(), capture_output=True,
                              text=True, timeout=NOTEBOOK_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CourseError(f"{notebook.name}: running the solutions to plan the replayed tests "
                          f"took more than {NOTEBOOK_TIMEOUT} s") from None
    if done.returncode != 0:
        raise CourseError(f"could not plan the replayed tests of {notebook.name}: "
                          f"{last_line(done.stderr)}")


def _digest(root: Path, assignment: str) -> str:
    """What a template depends on: the assignment's source files, the nbgrader configuration
    and the versions of nbgrader and this package."""
    import hashlib

    import nbgrader

    from .. import __version__

    digest = hashlib.sha256(f"{TEMPLATE_FORMAT} {nbgrader.__version__} {__version__}".encode())
    source = root / SOURCE / assignment
    for path in sorted([root / "nbgrader_config.py", *source.rglob("*")]):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts \
                and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def template(root: Path, assignment: str) -> Path:
    """``assignment``'s template course, made by :func:`prepare_template` once and reused until
    its source, the nbgrader configuration or the package versions change.

    Graders only copy it (never write into it); a new one is built beside the cache and moved
    into place, so two graders building it at once cannot leave a half-made template.
    """
    import tempfile

    from ..paths import templates_dir

    cache = templates_dir()
    target = cache / f"{assignment}-{_digest(root, assignment)}"
    if target.is_dir():  # moved into place once whole
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".building-", dir=cache) as tmp:
        built = prepare_template(root, assignment, Path(tmp))
        try:
            built.rename(target)
        except OSError:  # another grader finished the same template first
            if not target.is_dir():
                raise
    return target
