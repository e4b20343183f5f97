"""Repair a submitted notebook before nbgrader sees it.

nbgrader matches cells by ``grade_id``. Students break that without meaning to: a copied or
split cell duplicates a ``grade_id`` (nbgrader then aborts the batch), a deleted test cell leaves
the student at "needs manual grading", an edited cell flag turns a test into an answer. Each
repair is recorded as a note; a file that is not a notebook raises :class:`SubmissionError`.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import nbformat

__all__ = ["SubmissionError", "grade_id", "read_notebook", "repair", "repair_file"]


class SubmissionError(Exception):
    """A submission that cannot be graded; the message is the reason shown to the student."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook, with a student-readable reason when it is not one."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"the notebook is not valid JSON (line {exc.lineno}: {exc.msg}); "
                              "was it truncated or edited outside Jupyter? Re-download it from "
                              "Jupyter/Colab (File > Download .ipynb)") from None
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for malformed documents
        raise SubmissionError(f"the file is JSON but not a Jupyter notebook ({exc})") from None


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id`` (None for a cell without one)."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_instructor_cell(cell) -> bool:
    """Locked cells without an answer: tests and given code, safe to restore from the source."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("locked") or meta.get("grade")) and not meta.get("solution")


def repair(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Repair ``nb`` in place against the source notebook; return notes on what was changed."""
    notes: list[str] = []
    source_cells = {gid: cell for cell in source.cells if (gid := grade_id(cell))}
    order = [gid for gid in (grade_id(c) for c in source.cells) if gid]

    # 1. Duplicated grade ids: keep the last copy of a test cell, the first of an answer cell.
    positions: dict[str, list[int]] = {}
    for index, cell in enumerate(nb.cells):
        if (gid := grade_id(cell)) in source_cells:
            positions.setdefault(gid, []).append(index)
    drop: set[int] = set()
    for gid, where in positions.items():
        if len(where) < 2:
            continue
        if _is_instructor_cell(source_cells[gid]):
            drop.update(where[:-1])
            notes.append(f"cell {gid} appeared {len(where)} times; extra copies removed")
        else:
            for index in where[1:]:
                del nb.cells[index].metadata["nbgrader"]  # keep the code, drop the duplicate id
            notes.append(f"answer cell {gid} appeared {len(where)} times (split or copied); "
                         "all copies run, the first one is graded")
    nb.cells = [cell for index, cell in enumerate(nb.cells) if index not in drop]

    # 2. Flags as in the source (a test cell edited into an answer cell, changed points ...).
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in source_cells:
            wanted = copy.deepcopy(source_cells[gid].metadata["nbgrader"])
            if cell.metadata["nbgrader"] != wanted:
                kept = {k: cell.metadata["nbgrader"].get(k) for k in ("checksum",)}
                cell.metadata["nbgrader"] = {**wanted, **{k: v for k, v in kept.items() if v}}
                if cell.cell_type != source_cells[gid].cell_type or any(
                        cell.metadata["nbgrader"].get(k) != wanted.get(k)
                        for k in ("grade", "solution", "locked", "points")):
                    notes.append(f"cell {gid}: grading metadata restored from the source")

    # 3. Deleted test/given cells go back where they were (after the nearest earlier survivor).
    present = [gid for gid in (grade_id(c) for c in nb.cells) if gid]
    for position, gid in enumerate(order):
        if gid in present or not _is_instructor_cell(source_cells[gid]):
            continue
        restored = nbformat.from_dict(copy.deepcopy(dict(source_cells[gid])))
        if restored.cell_type == "code":
            restored.outputs, restored.execution_count = [], None
        restored["id"] = uuid.uuid4().hex[:8]
        earlier = [g for g in order[:position] if g in present]
        later = [g for g in order[position + 1:] if g in present]
        ids = [grade_id(c) for c in nb.cells]
        if earlier:
            index = ids.index(earlier[-1]) + 1
        elif later:
            index = ids.index(later[0])
        else:
            index = len(nb.cells)
        nb.cells.insert(index, restored)
        present.append(gid)
        notes.append(f"cell {gid} was missing; restored from the source")

    # 4. Unique cell ids (nbformat 4.5 rejects duplicates from copy/paste between notebooks).
    seen: set[str] = set()
    for cell in nb.cells:
        if "id" in cell and cell["id"] in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell.get("id", ""))
    return notes


def repair_file(path: Path, source_path: Path, output: Path) -> list[str]:
    """Read ``path``, repair it against ``source_path`` and write ``output``; return notes."""
    nb = read_notebook(path)
    notes = repair(nb, nbformat.read(source_path, as_version=4))
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, output)
    return notes
