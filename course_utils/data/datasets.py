"""Image datasets as folders of files, read with ``keras.utils.image_dataset_from_directory``.

The online archive (the TensorFlow flowers photos) comes from one table, :data:`DATASETS`, with
its address, SHA-256 (the checksum TensorFlow Datasets publishes), licence and source;
:func:`fetch_flowers` wraps ``keras.utils.get_file`` and checks the hash. The offline dataset, ``textures``, is in the same
table and is built by :mod:`course_utils.textures` (its docstring says how, and how well frozen
ImageNet features do on it); :func:`offline_dataset` builds it once and returns its folder. The
real offline dataset, ``elpv`` (solar cells from the installed ``elpv-dataset`` wheel), is built by
:mod:`course_utils.data.elpv` and :func:`elpv_dataset`; ``load(..., dataset="elpv")`` reads it.

Every built folder is written into a temporary sibling and renamed into place with a manifest
written last, so a half-built folder (interrupted build) is detected and rebuilt. Folders live
under ``COURSE_DATA_DIR`` or the Keras cache (``$KERAS_HOME/datasets``, ``~/.keras/datasets``),
never in the working directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import paths
from ..atomic import atomic_path
from ..errors import DataError, OfflineError
from ..hashing import matches
from . import elpv, textures
from .textures import OFFLINE_COUNTS, TEXTURE_CLASSES  # re-exported: same API as before

__all__ = [
    "Dataset",
    "DATASETS",
    "TEXTURE_CLASSES",
    "fetch",
    "fetch_flowers",
    "offline_dataset",
    "elpv_dataset",
    "split_flowers",
    "load",
]

MANIFEST = "MANIFEST.json"
SPLITS = ("train", "val", "test")
_TFDS = "checksum from tensorflow-datasets 4.9.10"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One entry of the data table.

    Attributes:
        name: key in :data:`DATASETS`.
        address: download URL (None: built locally).
        sha256: SHA-256 of the archive (None: nothing to download), or of the installed
            package's index file (``elpv``: labels.csv).
        licence: licence of the images.
        source: where the data and the checksum come from.
        folder: path inside the extracted archive of the folder of class subfolders.
    """

    name: str
    address: str | None
    sha256: str | None
    licence: str
    source: str
    folder: str | None = None


DATASETS: dict[str, Dataset] = {
    "flowers": Dataset(
        "flowers",
        "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz",
        "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c",
        "CC BY 2.0 (per-photo Flickr attributions in the archive's LICENSE.txt)",
        "TensorFlow team, 3,670 photos in 5 classes; same file as "
        "http://download.tensorflow.org/example_images/flower_photos.tgz, "
        f"{_TFDS} datasets/tf_flowers/checksums.tsv (228,813,984 bytes)",
        "flower_photos",
    ),
    "textures": Dataset(
        "textures",
        None,
        None,
        "CC0 / public domain (see each skimage.data function's docstring)",
        "built locally from photos bundled in scikit-image: skimage.data.brick, grass, gravel, "
        "moon, immunohistochemistry",
    ),
    "elpv": Dataset(
        "elpv",
        None,
        elpv.LABELS_SHA256,
        "CC BY-NC-SA 4.0 (non-commercial, share-alike; the package's loader code: Apache-2.0)",
        f"PyPI wheel {elpv.PIP_NAME} (github.com/zae-bayern/elpv-dataset): 2,624 300x300 grey "
        f"EL images of solar cells from 44 modules; sha256 is labels.csv's. Cite: {elpv.CITATION}",
    ),
}


def _build_once(target: Path, build: Callable[[Path], dict[str, Any]]) -> Path:
    """Build ``target`` with ``build(tmp)`` unless a complete copy (with manifest) exists."""
    if (target / MANIFEST).is_file():
        return target
    with atomic_path(target) as tmp:  # replaces a copy half-built by an interrupted run
        info = build(tmp)
        (tmp / MANIFEST).write_text(json.dumps(info, indent=1, sort_keys=True))
    return target


def _link(source: Path, destination: Path) -> None:
    try:
        destination.symlink_to(source.resolve())
    except OSError:  # no symlinks (some Windows setups): copy instead
        shutil.copy2(source, destination)


# --- online archives ------------------------------------------------------------------------


def fetch(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download (once), verify and extract an archive from :data:`DATASETS`.

    Args:
        name: ``"flowers"`` (the one online archive in :data:`DATASETS`).
        cache_dir: folder for archives (default :func:`course_utils.paths.data_dir`).

    Returns:
        The folder of class subfolders.

    Raises:
        ValueError: unknown name.
        DataError: the download's SHA-256 does not match the table (the file is deleted), or,
            offline, a pre-staged archive's does not (the file is kept).
        OfflineError: the archive is not cached and the machine has no network.
    """
    entry = DATASETS.get(name)
    if entry is None or entry.address is None:
        online = [key for key, value in DATASETS.items() if value.address]
        raise ValueError(f"unknown online dataset {name!r}: use one of {', '.join(online)}")
    root = Path(cache_dir) if cache_dir is not None else paths.data_dir()
    archive = entry.address.rsplit("/", 1)[-1]
    extracted = root / f"{archive[: archive.find('.')]}_extracted"
    folder = extracted / (entry.folder or "")
    if (extracted / MANIFEST).is_file():
        return folder
    from ..runtime.env import has_internet

    online = has_internet()
    staged = root / archive
    if staged.is_file() and not online and not matches(staged, entry.sha256):
        # Keras would try to download a good copy, fail with a bare "URL fetch failure" and
        # delete the file: say what is wrong and leave the file for the student to look at
        raise DataError(
            f"the pre-staged {staged} is not the {name} archive: its SHA-256 differs from "
            f"{entry.sha256} (an interrupted copy, or another file). This machine is offline, so "
            f"no good copy can be downloaded: copy the archive from {entry.address} again (the "
            "file was left in place)"
        )
    if not staged.is_file() and not online:
        raise OfflineError(
            f"the {name} dataset needs a download from {entry.address} and this machine is "
            f"offline: use the offline profile (COURSE_PROFILE=offline, dataset 'textures'), "
            f"or pre-stage the file as {root / archive} (it is checked against its SHA-256)"
        )
    import keras

    root.mkdir(parents=True, exist_ok=True)  # else get_file silently falls back to /tmp/.keras
    try:
        keras.utils.get_file(
            fname=archive,
            origin=entry.address,
            file_hash=entry.sha256,
            hash_algorithm="sha256",
            extract=True,
            cache_dir=str(root),
            cache_subdir=".",
        )
    except ValueError as error:  # Keras's "file hash does not match"
        (root / archive).unlink(missing_ok=True)
        raise DataError(
            f"the {name} archive from {entry.address} does not have the SHA-256 in the course's "
            f"table ({entry.sha256}); the bad file was deleted: retry, and if it happens again "
            f"the file on the server changed (report it to the course)"
        ) from error
    if not folder.is_dir():
        raise DataError(f"{archive} did not contain {entry.folder}/: delete {extracted} and retry")
    (extracted / MANIFEST).write_text(json.dumps({"name": name}))
    return folder


def fetch_flowers(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the flowers folder (5 class subfolders), downloading it once. See :func:`fetch`."""
    return fetch("flowers", cache_dir)


def split_flowers(root: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """Split the flowers folder into train/val/test folders of links (70/15/15 per class).

    Each class's sorted file list is shuffled with ``seed`` and cut once, so no file is in two
    splits. Returns ``<root>/course-datasets/flowers-seed<seed>``.
    """
    source = fetch_flowers()
    base = Path(root) if root is not None else paths.data_dir()
    target = base / "course-datasets" / f"flowers-seed{seed}"

    def build(tmp: Path) -> dict[str, Any]:
        counts: dict[str, dict[str, int]] = {}
        for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
            files = sorted(class_dir.glob("*.jpg"))
            random.Random(f"{seed}-{class_dir.name}").shuffle(files)
            cut1, cut2 = int(0.7 * len(files)), int(0.85 * len(files))
            for split, chunk in zip(SPLITS, (files[:cut1], files[cut1:cut2], files[cut2:]), strict=True):
                (tmp / split / class_dir.name).mkdir(parents=True)
                for path in chunk:
                    _link(path, tmp / split / class_dir.name / path.name)
                counts.setdefault(split, {})[class_dir.name] = len(chunk)
        return {"name": "flowers", "seed": seed, "counts": counts}

    return _build_once(target, build)


# --- the offline dataset ----------------------------------------------------------------------


def _limited(full: Path, samples_per_class: int) -> Path:
    """A sibling of ``full`` whose train split keeps the first ``samples_per_class`` per class."""
    target = full.parent / f"{full.name}-{samples_per_class}-per-class"

    def build(tmp: Path) -> dict[str, Any]:
        for split in SPLITS:
            for class_dir in sorted(p for p in (full / split).iterdir() if p.is_dir()):
                (tmp / split / class_dir.name).mkdir(parents=True)
                files = sorted(class_dir.iterdir())
                if split == "train":
                    files = files[:samples_per_class]
                for path in files:
                    _link(path, tmp / split / class_dir.name / path.name)
        return {"from": str(full), "samples_per_class": samples_per_class}

    return _build_once(target, build)


def offline_dataset(
    root: str | os.PathLike | None = None, samples_per_class: int | None = None, seed: int = 0
) -> Path:
    """Build (once) the offline ``textures`` dataset and return its folder.

    Args:
        root: parent folder (default :func:`course_utils.paths.data_dir`); files go to
            ``<root>/course-datasets/textures-seed<seed>/{train,val,test}/<class>/*.png``.
        samples_per_class: keep only this many train images per class (in a sibling folder of
            links; val and test stay whole). None: all 120.
        seed: seed of the crops; the same seed gives byte-identical files.

    Returns:
        The folder with ``train/``, ``val/`` and ``test/`` subfolders.

    Raises:
        ValueError: samples_per_class < 1.
    """
    if samples_per_class is not None and samples_per_class < 1:
        raise ValueError(f"samples_per_class must be >= 1 or None, got {samples_per_class}")
    base = Path(root) if root is not None else paths.data_dir()
    entry = DATASETS["textures"]

    def build(tmp: Path) -> dict[str, Any]:
        return {**textures.build(tmp, seed), "source": entry.source, "licence": entry.licence}

    full = _build_once(base / "course-datasets" / f"textures-seed{seed}", build)
    if samples_per_class is None or samples_per_class >= OFFLINE_COUNTS["train"]:
        return full
    return _limited(full, samples_per_class)


def elpv_dataset(
    root: str | os.PathLike | None = None,
    task: str = "defect",
    image_size: int = 96,
    samples_per_class: int | None = None,
    seed: int = 0,
    train_fraction: float | None = None,
) -> Path:
    """Build (once) the ELPV solar-cell dataset for a task and return its folder.

    Args:
        root: parent folder (default :func:`course_utils.paths.data_dir`); files go to
            ``<root>/course-datasets/elpv-<task>-<image_size>px-seed<seed>[-<n>-per-class]``
            ``[-train<fraction>]/``
            ``{train,val,test}/<class>/cellNNNN.png`` (grey PNG, as shipped).
        task: ``"defect"`` (functional / defective) or ``"grade"`` (the four defect
            probabilities); see :mod:`course_utils.data.elpv`.
        image_size: side of the written images, 16..300 px.
        samples_per_class: keep this many train images per class (picked with ``seed``; val and
            test stay whole). None: all (about 1,800 train images).
        seed: seed of the split by module and of the train subset.
        train_fraction: keep this fraction of each class's train images (the class ratio
            stays; val and test whole). None: all. Not together with ``samples_per_class``.

    Returns:
        The folder with ``train/``, ``val/`` and ``test/`` subfolders.

    Raises:
        TypeError: image_size is not an int.
        ValueError: unknown task, image_size outside 16..300, samples_per_class < 1,
            train_fraction outside (0, 1] or given with samples_per_class.
        DataError: the ``elpv-dataset`` package is missing or damaged (the message says how to
            reinstall it).
    """
    elpv.check_arguments(task, image_size, samples_per_class, train_fraction)
    base = Path(root) if root is not None else paths.data_dir()
    name = f"elpv-{task}-{image_size}px-seed{seed}"
    if samples_per_class is not None:
        name += f"-{samples_per_class}-per-class"
    if train_fraction is not None:
        name += f"-train{train_fraction:g}"
    entry = DATASETS["elpv"]

    def build(tmp: Path) -> dict[str, Any]:
        info = elpv.build(tmp, task, image_size, samples_per_class, seed, train_fraction)
        return {**info, "source": entry.source, "licence": entry.licence}

    return _build_once(base / "course-datasets" / name, build)


def load(
    profile: Any,
    image_size: int | None = None,
    batch_size: int | None = None,
    samples_per_class: int | None = None,
    seed: int = 0,
    dataset: str | None = None,
    task: str = "defect",
    train_fraction: float | None = None,
) -> tuple[Any, Any, Any, list[str]]:
    """Load the profile's dataset as three ``tf.data.Dataset`` of (images, labels) batches.

    Args:
        profile: a :class:`course_utils.env.Profile` (its ``dataset``, ``image_size``,
            ``batch_size`` and ``samples_per_class`` are the defaults) or a profile name.
        image_size: side of the square images.
        batch_size: images per batch.
        samples_per_class: train images per class (None: all); val and test stay whole.
        seed: seed of the split (flowers, elpv) or the crops (textures) and of the train shuffle.
        dataset: ``"elpv"`` to read the solar cells whatever the profile; None: the profile's
            (``"offline"``: textures, ``"flowers"``).
        task: the ELPV task, ``"defect"`` or ``"grade"`` (ignored by the other datasets).
        train_fraction: ELPV only: keep this fraction of each class's train images (the class
            ratio stays, unlike ``samples_per_class``); None: all.

    Returns:
        ``(train_ds, val_ds, test_ds, class_names)``: images float32 0..255 RGB of shape
        (batch, image_size, image_size, 3) (ELPV's grey files repeated in three channels),
        integer labels; only train_ds is shuffled. ELPV's ``test_ds`` is None in a grading
        sandbox, which hides its test photos (``course autograde`` scores a saved model on them
        outside the sandbox: README, "A graded experiment").

    Raises:
        ValueError: unknown dataset; OfflineError: flowers on a machine without network;
        DataError: elpv with its package missing or damaged.
    """
    if isinstance(profile, str):
        from ..runtime.env import select_profile

        profile = select_profile(profile)
    image_size = image_size or profile.image_size
    batch_size = batch_size or profile.batch_size
    if train_fraction is None:  # a fraction replaces the profile's balanced subset
        samples_per_class = samples_per_class or profile.samples_per_class
    dataset = dataset or profile.dataset
    if train_fraction is not None and dataset != "elpv":
        raise ValueError(f"train_fraction is for dataset='elpv', not {dataset!r}: use "
                         "samples_per_class")
    if dataset == "elpv":
        folder = elpv_dataset(task=task, image_size=image_size, seed=seed,
                              samples_per_class=samples_per_class, train_fraction=train_fraction)
    elif dataset == "offline":
        folder = offline_dataset(samples_per_class=samples_per_class, seed=seed)
    elif dataset == "flowers":
        folder = split_flowers(seed=seed)
        if samples_per_class:
            folder = _limited(folder, samples_per_class)
    else:
        raise ValueError(f"unknown dataset {dataset!r}: use 'offline', 'flowers' or 'elpv'")
    import keras

    def read(split: str, shuffle: bool) -> Any:
        return keras.utils.image_dataset_from_directory(
            folder / split,
            labels="inferred",
            label_mode="int",
            color_mode="rgb",
            follow_links=True,
            image_size=(image_size, image_size),
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            verbose=False,
        )

    train_ds = read("train", shuffle=True)
    hidden = dataset == "elpv" and not any((folder / "test").iterdir())
    test_ds = None if hidden else read("test", False)
    return train_ds, read("val", False), test_ds, list(train_ds.class_names)
