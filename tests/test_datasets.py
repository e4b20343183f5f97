"""Tests for course_utils.datasets: building once, the split-aware loader and fetching.

The textures files themselves (counts, leak-free split, seed) are tested in test_textures.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils import datasets, env
from course_utils.errors import DataError, OfflineError

CLASSES = sorted(datasets.TEXTURE_CLASSES)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The full offline dataset, built once for this module."""
    return datasets.offline_dataset(root=tmp_path_factory.mktemp("data"))


def test_offline_dataset_is_complete_with_provenance(built):
    assert built.name == "textures-seed0"
    for split in datasets.SPLITS:
        for name in CLASSES:
            files = list((built / split / name).glob("*.png"))
            assert len(files) == datasets.OFFLINE_COUNTS[split]
    manifest = json.loads((built / datasets.MANIFEST).read_text())
    assert manifest["classes"] == list(datasets.TEXTURE_CLASSES) and manifest["seed"] == 0
    entry = datasets.DATASETS["textures"]
    assert manifest["licence"] == entry.licence and "CC0" in manifest["licence"]
    assert manifest["source"] == entry.source


def test_second_call_does_not_rebuild(built):
    stamp = (built / datasets.MANIFEST).stat().st_mtime_ns
    assert datasets.offline_dataset(root=built.parents[1]) == built
    assert (built / datasets.MANIFEST).stat().st_mtime_ns == stamp


def test_half_built_folder_is_rebuilt(built, tmp_path):
    target = tmp_path / "course-datasets" / "textures-seed0"
    shutil.copytree(built, target)
    (target / datasets.MANIFEST).unlink()  # as if the build had been interrupted
    shutil.rmtree(target / "test" / "moon")
    result = datasets.offline_dataset(root=tmp_path)
    assert (result / datasets.MANIFEST).is_file()
    assert len(list((result / "test" / "moon").glob("*.png"))) == datasets.OFFLINE_COUNTS["test"]
    assert not [p for p in tmp_path.glob("course-datasets/.*tmp*")]  # no temp folder left


def test_samples_per_class_limits_only_train(built):
    limited = datasets.offline_dataset(root=built.parents[1], samples_per_class=7)
    assert limited != built
    for name in CLASSES:
        assert len(list((limited / "train" / name).iterdir())) == 7
        assert len(list((limited / "val" / name).iterdir())) == datasets.OFFLINE_COUNTS["val"]
    with pytest.raises(ValueError, match="samples_per_class"):
        datasets.offline_dataset(root=built.parents[1], samples_per_class=0)


def test_load_offline_profile(built, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(built.parents[1]))
    train_ds, val_ds, test_ds, class_names = datasets.load(
        "offline", image_size=64, batch_size=8, samples_per_class=4
    )
    assert class_names == CLASSES
    images, labels = next(iter(val_ds))
    assert images.shape == (8, 64, 64, 3) and images.dtype.name == "float32"
    assert 0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 255
    train_labels = np.concatenate([y.numpy() for _, y in train_ds])
    assert np.bincount(train_labels).tolist() == [4] * len(CLASSES)
    test_labels = np.concatenate([y.numpy() for _, y in test_ds])
    assert np.array_equal(test_labels, np.sort(test_labels))  # test split is not shuffled
    assert len(test_labels) == datasets.OFFLINE_COUNTS["test"] * len(CLASSES)


def test_flowers_offline_raises_offline_error(tmp_path, monkeypatch):
    monkeypatch.setattr(env, "has_internet", lambda: False)
    with pytest.raises(OfflineError, match="flowers.*offline profile"):
        datasets.fetch_flowers(cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown online dataset"):
        datasets.fetch("textures", cache_dir=tmp_path)


def _jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def _stand_in(monkeypatch, name: str, archive: Path, sha256: str | None = None) -> None:
    """Point the table entry at a local file:// archive."""
    digest = sha256 or hashlib.sha256(archive.read_bytes()).hexdigest()
    entry = dataclasses.replace(datasets.DATASETS[name], address=archive.as_uri(), sha256=digest)
    monkeypatch.setitem(datasets.DATASETS, name, entry)
    monkeypatch.setattr(env, "has_internet", lambda: True)


def test_fetch_flowers_from_local_stand_in(tmp_path, monkeypatch):
    archive = tmp_path / "served" / "flower_photos.tgz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for index, name in enumerate(("daisy", "roses")):
            info = tarfile.TarInfo(f"flower_photos/{name}/{index}.jpg")
            data = _jpeg((200, 20 * index, 0))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _stand_in(monkeypatch, "flowers", archive)
    folder = datasets.fetch_flowers(cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == ["daisy", "roses"]
    archive.unlink()  # a second call must not download again
    assert datasets.fetch_flowers(cache_dir=tmp_path / "cache") == folder


def test_fetch_with_wrong_hash_raises_and_deletes(tmp_path, monkeypatch):
    archive = tmp_path / "flower_photos.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("flower_photos/empty"), io.BytesIO(b""))
    _stand_in(monkeypatch, "flowers", archive, sha256="0" * 64)
    with pytest.raises(DataError, match="SHA-256"):
        datasets.fetch_flowers(cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "flower_photos.tgz").exists()
    assert not (tmp_path / "cache" / "flower_photos_extracted").exists()


def test_pre_staged_archive_offline_is_checked_and_kept(tmp_path, monkeypatch):
    """Offline, a pre-staged archive with the table's hash is extracted; one without it gets the
    course's error (not Keras's "URL fetch failure") and stays on disk, byte for byte."""
    cache = tmp_path / "cache"
    cache.mkdir()
    staged = cache / "flower_photos.tgz"
    with tarfile.open(staged, "w:gz") as tar:
        info = tarfile.TarInfo("flower_photos/daisy/0.jpg")
        data = _jpeg((200, 0, 0))
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    good = staged.read_bytes()
    _stand_in(monkeypatch, "flowers", staged)
    monkeypatch.setattr(env, "has_internet", lambda: False)
    assert sorted(p.name for p in datasets.fetch_flowers(cache_dir=cache).iterdir()) == ["daisy"]

    other = tmp_path / "other"
    other.mkdir()
    (other / "flower_photos.tgz").write_bytes(good[: len(good) // 2])  # an interrupted copy
    with pytest.raises(DataError, match="pre-staged .* is not the flowers archive.*left in place"):
        datasets.fetch_flowers(cache_dir=other)
    assert (other / "flower_photos.tgz").read_bytes() == good[: len(good) // 2]
    assert not (other / "flower_photos_extracted").exists()


def test_table_has_published_hashes_and_licences():
    for entry in datasets.DATASETS.values():
        assert entry.licence and entry.source
        if entry.address:
            assert entry.address.startswith("https://")
            assert len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0
