"""Tests for course_utils.textures: the offline dataset's files, its leak-free split, its seed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from course_utils import datasets, textures

CLASSES = sorted(textures.TEXTURE_CLASSES)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """The files built with seed 0, written once for this module, and what build() returned."""
    folder = tmp_path_factory.mktemp("textures")
    return folder, textures.build(folder, seed=0)


def _pixels(path: Path) -> bytes:
    return hashlib.sha256(np.asarray(Image.open(path)).tobytes()).digest()


def test_counts_classes_and_grey_rgb_images(built):
    folder, info = built
    assert sorted(p.name for p in folder.iterdir()) == sorted(datasets.SPLITS)  # what load reads
    for split, count in textures.OFFLINE_COUNTS.items():
        assert sorted(p.name for p in (folder / split).iterdir()) == CLASSES
        for name in CLASSES:
            assert len(list((folder / split / name).glob("*.png"))) == count
    image = Image.open(folder / "test" / "tissue" / "0000.png")  # the one colour source photo
    assert image.mode == "RGB" and image.size == (96, 96) == (textures.OFFLINE_IMAGE_SIZE,) * 2
    pixels = np.asarray(image)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert info["classes"] == list(textures.TEXTURE_CLASSES) and info["seed"] == 0
    assert info["counts"] == textures.OFFLINE_COUNTS


def test_no_identical_image_across_splits(built):
    """No image is repeated across splits (the band test below is the real no-leakage test)."""
    folder, _ = built
    hashes = {
        split: {_pixels(path) for path in (folder / split).glob("*/*.png")}
        for split in textures.OFFLINE_COUNTS
    }
    assert len(hashes["train"]) > 500  # crops differ within a split too
    assert not hashes["train"] & hashes["val"]
    assert not hashes["train"] & hashes["test"]
    assert not hashes["val"] & hashes["test"]


class _ColumnSpy(np.ndarray):
    """A source photo that records the columns each crop reads."""

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], slice):
            self.columns.append((key[1].start, key[1].stop))
        return np.asarray(self)[key]


def test_no_pixel_shared_between_splits(tmp_path, monkeypatch):
    """No leakage: every crop reads only columns of its split's band; the bands are disjoint."""
    reads = {}  # (class, split) -> the columns read by its crops
    original_crops = textures._crops
    grey = textures._grey

    def spy_grey(image):
        spy = grey(image).view(_ColumnSpy)
        spy.columns = []
        return spy

    def recording_crops(image, band, count, rng):
        before = len(image.columns)
        yield from original_crops(image, band, count, rng)
        reads[len(reads)] = (band, image.columns[before:], image.shape[1])

    monkeypatch.setattr(textures, "OFFLINE_COUNTS", {"train": 6, "val": 2, "test": 2})  # faster
    monkeypatch.setattr(textures, "_grey", spy_grey)
    monkeypatch.setattr(textures, "_crops", recording_crops)
    textures.build(tmp_path, seed=0)
    splits = len(textures.OFFLINE_COUNTS)
    assert len(reads) == splits * len(textures.TEXTURE_CLASSES)
    for first in range(0, len(reads), splits):  # one source photo: its three splits in order
        photo = [reads[first + i] for i in range(splits)]
        width = photo[0][2]
        for (band, columns, _), count in zip(photo, textures.OFFLINE_COUNTS.values(),
                                             strict=True):
            assert len(columns) == count
            assert all(band[0] <= start < stop <= band[1] for start, stop in columns)
        bands = [band for band, _, _ in photo]
        assert all(a[1] <= b[0] for a, b in zip(bands, bands[1:], strict=False))  # disjoint
        shares = [(right - left) / width for left, right in bands]
        np.testing.assert_allclose(shares, textures.SPLIT_FRACTIONS, atol=0.01)


def test_same_seed_gives_byte_identical_files(built, tmp_path):
    folder, info = built
    assert textures.build(tmp_path, seed=0) == info
    paths = sorted(folder.glob("*/*/*.png"))
    assert len(paths) == sum(textures.OFFLINE_COUNTS.values()) * len(CLASSES)
    for path in paths:
        assert path.read_bytes() == (tmp_path / path.relative_to(folder)).read_bytes()


def test_refuses_to_write_over_existing_files(built):
    folder, _ = built
    with pytest.raises(FileExistsError):
        textures.build(folder, seed=0)
