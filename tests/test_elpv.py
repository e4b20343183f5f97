"""Tests for course_utils.data.elpv and datasets.elpv_dataset: the installed ELPV solar cells.

The package's files are checked (hash, image count, the error naming the pip command), the two
tasks' class counts, the split (by module blocks: disjoint, stratified, seeded) and the built
folders as Keras reads them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils import env, paths
from course_utils.data import datasets, elpv
from course_utils.errors import DataError
from course_utils.hashing import file_hash

IMAGE_SIZE = 32
PER_CLASS = 5


@pytest.fixture(scope="module")
def cells() -> list[elpv.Cell]:
    return elpv.cells()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The grade task at 32 px with 5 train images per class, built once for this module."""
    return datasets.elpv_dataset(tmp_path_factory.mktemp("data"), "grade", IMAGE_SIZE, PER_CLASS)


def test_installed_files_match_the_pinned_version(cells):
    labels = elpv.package_file(elpv.PACKAGE, elpv.PIP_NAME, elpv.LABELS)
    assert file_hash(labels) == elpv.LABELS_SHA256
    assert len(cells) == elpv.IMAGE_COUNT == len({c.path for c in cells})
    assert all(c.path.is_file() for c in cells[:: 101])
    assert Counter(c.grade for c in cells) == {0: 1508, 1: 295, 2: 106, 3: 715}
    assert Counter(c.cell_type for c in cells) == {"mono": 1074, "poly": 1550}
    with Image.open(cells[0].path) as image:
        assert image.mode == "L" and image.size == (elpv.NATIVE_SIZE, elpv.NATIVE_SIZE)


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(elpv, "PACKAGE", "elpv_dataset_not_installed")
    with pytest.raises(DataError, match=r"not installed: run 'pip install --no-deps elpv-dataset==1\.0\.0\.post1'"):
        elpv.cells()


def _copy(tmp_path: Path, labels_bytes: bytes, drop_images: int = 0) -> Path:
    """A stand-in package folder: labels.csv with the given bytes, links to the real images."""
    real = paths.package_file(elpv.PACKAGE, elpv.PIP_NAME, elpv.LABELS)
    (tmp_path / "images").mkdir()
    for path in sorted((real.parent / "images").glob("*.png"))[drop_images:]:
        (tmp_path / "images" / path.name).symlink_to(path)
    (tmp_path / "labels.csv").write_bytes(labels_bytes)
    return tmp_path / "labels.csv"


@pytest.mark.parametrize("damage", ["labels", "image"])
def test_damaged_package_is_refused_with_the_reinstall_command(damage, tmp_path, monkeypatch):
    real = elpv.package_file(elpv.PACKAGE, elpv.PIP_NAME, elpv.LABELS).read_bytes()
    if damage == "labels":  # one probability changed: 0.0 -> 1.0 on the fourth cell
        labels = _copy(tmp_path, real.replace(b"cell0004.png  0.0", b"cell0004.png  1.0", 1))
        message = r"SHA-256 differs.*pip install --force-reinstall --no-deps elpv-dataset"
    else:
        labels = _copy(tmp_path, real, drop_images=1)
        message = r"has 2623 images, not 2624.*pip install --force-reinstall"
    monkeypatch.setattr(elpv, "package_file", lambda *args: labels)
    with pytest.raises(DataError, match=message):
        elpv.cells()
    (tmp_path / "intact").mkdir()
    intact = _copy(tmp_path / "intact", real)
    monkeypatch.setattr(elpv, "package_file", lambda *args: intact)
    assert len(elpv.cells()) == elpv.IMAGE_COUNT  # the same check passes an intact copy


@pytest.mark.parametrize("task, counts", [("defect", [1508, 1116]),
                                          ("grade", [1508, 295, 106, 715])])
def test_class_counts_per_task(cells, task, counts):
    assert Counter(elpv.label(c, task) for c in cells) == dict(enumerate(counts))
    assert len(elpv.TASKS[task]) == len(counts)
    assert list(elpv.TASKS[task]) == sorted(elpv.TASKS[task])  # Keras's order = label order
    with pytest.raises(ValueError, match="unknown ELPV task"):
        elpv.label(cells[0], "severity")


def test_module_blocks_are_44_contiguous_runs_of_one_cell_type(cells):
    modules = [c.module for c in cells]
    assert modules == sorted(modules) and len(set(modules)) == elpv.MODULE_COUNT
    for module in set(modules):
        members = [c for c in cells if c.module == module]
        assert len({c.cell_type for c in members}) == 1
        assert 48 <= len(members) <= 72


def test_split_is_disjoint_by_module_stratified_and_seeded(cells):
    parts = elpv.split(cells, seed=0)
    files = {name: {c.path for c in members} for name, members in parts.items()}
    modules = {name: {c.module for c in members} for name, members in parts.items()}
    assert sum(map(len, files.values())) == len(set().union(*files.values())) == len(cells)
    assert not (modules["train"] & modules["val"] or modules["train"] & modules["test"]
                or modules["val"] & modules["test"])
    for name, fraction in elpv.SPLIT_FRACTIONS.items():
        members = parts[name]
        assert abs(len(members) / len(cells) - fraction) < 0.02, name
        for grade in range(4):  # each probability's share within 3 points of the whole set's
            share = sum(c.grade == grade for c in members) / len(members)
            assert abs(share - sum(c.grade == grade for c in cells) / len(cells)) < 0.03
        mono = sum(c.cell_type == "mono" for c in members) / len(members)
        assert abs(mono - 1074 / 2624) < 0.03
    again = elpv.split(cells, seed=0)
    assert {k: [c.path for c in v] for k, v in again.items()} == \
        {k: [c.path for c in v] for k, v in parts.items()}
    other = elpv.split(cells, seed=1)
    assert {c.module for c in other["val"]} != modules["val"]


def test_built_folders_follow_the_split_and_stay_grey(built, cells):
    manifest = json.loads((built / datasets.MANIFEST).read_text())
    assert manifest["task"] == "grade" and manifest["licence"].startswith("CC BY-NC-SA 4.0")
    assert "Deitsch" in manifest["source"] and manifest["labels_sha256"] == elpv.LABELS_SHA256
    parts = elpv.split(cells, seed=0)
    for split in datasets.SPLITS:
        names = {p.name for p in (built / split).rglob("*.png")}
        wanted = Counter(elpv.label(c, "grade") for c in parts[split])
        for index, class_name in enumerate(elpv.TASKS["grade"]):
            found = len(list((built / split / class_name).glob("*.png")))
            assert found == (min(PER_CLASS, wanted[index]) if split == "train" else wanted[index])
            assert manifest["counts"][split][class_name] == found
        assert names <= {c.path.name for c in parts[split]}
    sample = next((built / "val" / "prob_0.67").glob("*.png"))
    source = next(c for c in cells if c.path.name == sample.name)
    assert source.grade == 2
    with Image.open(sample) as image:
        assert image.mode == "L" and image.size == (IMAGE_SIZE, IMAGE_SIZE)


def test_keras_reads_the_folders_with_the_class_names(built):
    import keras

    val_ds = keras.utils.image_dataset_from_directory(
        built / "val", color_mode="rgb", image_size=(IMAGE_SIZE, IMAGE_SIZE), batch_size=512,
        shuffle=False, verbose=False)
    assert val_ds.class_names == list(elpv.TASKS["grade"])
    images, labels = next(iter(val_ds))
    images = images.numpy()
    assert images.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])  # grey in three channels
    manifest = json.loads((built / datasets.MANIFEST).read_text())
    assert np.bincount(labels.numpy(), minlength=4).tolist() == list(manifest["counts"]["val"].values())


def test_second_call_does_not_rebuild(built):
    stamp = (built / datasets.MANIFEST).stat().st_mtime_ns
    again = datasets.elpv_dataset(built.parents[1], "grade", IMAGE_SIZE, PER_CLASS)
    assert again == built and (built / datasets.MANIFEST).stat().st_mtime_ns == stamp
    assert not list(built.parent.glob(".*tmp*"))


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "severity"}, "unknown ELPV task"),
    ({"image_size": 8}, "image_size must be 16..300"),
    ({"samples_per_class": 0}, "samples_per_class must be >= 1"),
    ({"train_fraction": 0}, "train_fraction must be in"),
    ({"train_fraction": 1.5}, "train_fraction must be in"),
    ({"train_fraction": 0.5, "samples_per_class": 3}, "not both"),
])
def test_arguments_are_checked(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        datasets.elpv_dataset(tmp_path, **kwargs)
    assert not (tmp_path / "course-datasets").exists() or not any(
        (tmp_path / "course-datasets").iterdir())


def test_load_reads_elpv_without_changing_the_profile_default(built, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(built.parents[1]))
    train_ds, val_ds, test_ds, class_names = datasets.load(
        "offline", image_size=IMAGE_SIZE, batch_size=8, samples_per_class=PER_CLASS,
        dataset="elpv", task="grade")
    assert class_names == list(elpv.TASKS["grade"])
    assert sum(int(labels.shape[0]) for _, labels in train_ds) == 4 * PER_CLASS
    images, _ = next(iter(val_ds))
    assert images.shape == (8, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert env.select_profile("offline").dataset == "offline"  # still textures


def test_a_train_fraction_keeps_the_class_ratio_and_the_whole_val_and_test(tmp_path):
    whole = elpv.split(elpv.cells())
    kept = elpv._subset(whole["train"], "defect", None, 0, 0.25)
    assert set(kept) <= set(whole["train"])
    for index in range(2):
        pool = sum(elpv.label(c, "defect") == index for c in whole["train"])
        assert sum(elpv.label(c, "defect") == index for c in kept) == round(pool * 0.25)
    assert elpv._subset(whole["train"], "defect", None, 0, 0.25) == kept  # seeded
    assert elpv._subset(whole["train"], "defect", None, 1, 0.25) != kept


def test_load_refuses_a_train_fraction_for_other_datasets():
    with pytest.raises(ValueError, match="train_fraction is for dataset='elpv'"):
        datasets.load("offline", train_fraction=0.5)
