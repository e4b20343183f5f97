"""Structure rules every lesson notebook must follow (STYLE.md rules 9-16), as code.

Used by ``tests/test_notebook_lint.py``; each function returns a list of problems (empty: fine).
"""

from __future__ import annotations

import fcntl
import json
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Cell tags a lesson may use. Skip/raises tags (nbval-skip, raises-exception, ...) hide failures, so
# any use needs an entry in ALLOWED_SKIPS naming the notebook and why.
ALLOWED_TAGS = {"parameters", "course-setup", "nbval-ignore-output"}
ALLOWED_SKIPS: dict[tuple[str, str], str] = {}
VOLATILE_CELL_METADATA = {"id", "outputId", "colab", "executionInfo", "execution"}


def record_time(file: Path, name: str, seconds: float) -> None:
    """Add ``name: seconds`` to the JSON table ``file``, safely when pytest-xdist runs tests at once.

    ``make test`` runs the suite in several pytest-xdist workers: a lock file beside the table
    keeps them from losing each other's entries.
    """
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        times = json.loads(file.read_text()) if file.exists() else {}
        times[name] = round(seconds, 1)
        file.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")


def _cells(nb, kind=None):
    return [c for c in nb.cells if kind is None or c.cell_type == kind]


def problems(path: Path) -> list[str]:
    """Return every rule the notebook at ``path`` breaks."""
    nb = nbformat.read(path, as_version=4)
    found = []
    markdown, code = _cells(nb, "markdown"), _cells(nb, "code")
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not nb.cells[0].source.startswith("# "):
        found.append("the first cell must be a markdown title ('# Lesson N: ...')")
    if not any(c.source.startswith("<!-- badges") for c in markdown[:3]):
        found.append("no badge cell ('<!-- badges -->') among the first cells")
    tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
    setup = [i for i, c in enumerate(nb.cells) if "course-setup" in c.metadata.get("tags", [])]
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        found.append(f"needs exactly one cell tagged 'parameters' (found {len(params)})")
    if len(setup) != 1:
        found.append(f"needs exactly one cell tagged 'course-setup' (found {len(setup)})")
    if setup and params and setup[0] > params[0]:
        found.append("the course-setup cell must come before the parameters cell")
    if params and "PROFILE" not in nb.cells[params[0]].source:
        found.append("the parameters cell must define PROFILE")
    if not any("course_utils.setup_notebook(" in c.source for c in code):
        found.append("never calls course_utils.setup_notebook()")
    for tag in tags:
        if tag not in ALLOWED_TAGS and (path.name, tag) not in ALLOWED_SKIPS:
            found.append(f"tag {tag!r} is not allowed (see ALLOWED_SKIPS in tests/notebook_rules.py)")
    if nb.metadata.get("papermill", {}).get("allow_errors") or any(
        c.metadata.get("allow_errors") for c in nb.cells
    ):
        found.append("allow_errors is set: failures would pass silently")
    for i, c in enumerate(code):
        if re.search(r"^\s*!", c.source, flags=re.M):
            found.append(f"code cell {i} runs a '!' shell command (a failing '!' passes silently; "
                         "use %pip or Python)")
        if re.search(r"from\s+course_utils\S*\s+import\s+\*", c.source):
            found.append(f"code cell {i} star-imports course_utils (import the namespace)")
        if c.get("outputs") or c.get("execution_count") is not None:
            found.append(f"code cell {i} has committed outputs or an execution count")
    for i, c in enumerate(nb.cells):
        volatile = VOLATILE_CELL_METADATA & set(c.metadata)
        if volatile:
            found.append(f"cell {i} has volatile metadata {sorted(volatile)}")
    if not any("course_utils.claims.check(" in c.source for c in code):
        found.append("states no checked claim (course_utils.claims.check)")
    if not any("<details>" in c.source for c in markdown):
        found.append("has no 'check your understanding' answers (<details>)")
    if not any("exercises/ex" in c.source for c in markdown):
        found.append("does not point to its exercise (exercises/exNN_...)")
    return found
