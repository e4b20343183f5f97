"""The offline ``textures`` dataset: grey crops of five surfaces photographed in scikit-image.

The source photos ship in scikit-image's wheel (CC0 / public domain, see each ``skimage.data``
function's docstring), so the dataset is built without a network: crops of five surfaces (brick,
grass, gravel, the moon's surface, stained tissue). Measured at 96 px with 20 train images per
class: frozen ImageNet EfficientNet-Lite0 features + logistic regression reach 0.99 test accuracy,
a small CNN trained from scratch 0.67 (mean of 3 seeds; chance 0.20). scikit-learn's digits, the
other candidate, are not photos: there Lite0 features reach 0.87 and the scratch CNN 0.89.

Each crop is turned to grey and contrast-stretched, so colour and brightness give nothing away;
crops are taken at random positions, sizes (48..100 px), flips and quarter turns. **No pixel is
shared between splits**: each source photo is cut into vertical bands, left 60 % for train, next
20 % for validation, last 20 % for test, and a split's crops come only from its band.

:func:`build` writes the PNG files; :func:`course_utils.datasets.offline_dataset` calls it once,
in a temporary folder it then renames into the cache, and adds the provenance from
:data:`course_utils.datasets.DATASETS` to the manifest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TEXTURE_CLASSES",
    "OFFLINE_COUNTS",
    "OFFLINE_IMAGE_SIZE",
    "SPLIT_FRACTIONS",
    "build",
]

# class name -> skimage.data function that returns its source photo
TEXTURE_CLASSES: dict[str, str] = {
    "brick": "brick",
    "grass": "grass",
    "gravel": "gravel",
    "moon": "moon",
    "tissue": "immunohistochemistry",
}
# Images per class and split; the splits are in band order, left to right.
OFFLINE_COUNTS = {"train": 120, "val": 40, "test": 40}
# Fraction of each source photo's width per split, in the order of OFFLINE_COUNTS.
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
OFFLINE_IMAGE_SIZE = 96


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return image


def _crops(
    image: np.ndarray, band: tuple[int, int], count: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield ``count`` contrast-stretched grey crops taken inside the column band."""
    from PIL import Image

    height = image.shape[0]
    left, right = band
    for _ in range(count):
        side = int(rng.integers(48, min(100, right - left, height) + 1))
        top = int(rng.integers(0, height - side + 1))
        x0 = int(rng.integers(left, right - side + 1))
        crop = image[top : top + side, x0 : x0 + side]
        low, high = np.percentile(crop, (1, 99))
        crop = np.clip((crop - low) * (255.0 / max(high - low, 1.0)), 0, 255).astype(np.uint8)
        crop = np.rot90(crop, int(rng.integers(4)))
        if rng.integers(2):
            crop = crop[:, ::-1]
        resized = Image.fromarray(np.ascontiguousarray(crop)).resize(
            (OFFLINE_IMAGE_SIZE, OFFLINE_IMAGE_SIZE), Image.Resampling.BILINEAR
        )
        yield np.asarray(resized)


def build(folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write the textures dataset as ``<folder>/{train,val,test}/<class>/NNNN.png``.

    Args:
        folder: where to write; its split subfolders must not exist yet.
        seed: seed of the crops; the same seed gives byte-identical files.

    Returns:
        What was built (name, seed, classes, counts, image size, how the splits were cut), for
        the dataset's manifest.

    Raises:
        FileExistsError: ``folder`` already holds a class folder.
    """
    import skimage.data
    from PIL import Image

    bounds = np.cumsum((0.0, *SPLIT_FRACTIONS))
    for label, (class_name, function) in enumerate(TEXTURE_CLASSES.items()):
        image = _grey(getattr(skimage.data, function)())
        width = image.shape[1]
        for index, (split, count) in enumerate(OFFLINE_COUNTS.items()):
            band = (int(bounds[index] * width), int(bounds[index + 1] * width))
            rng = np.random.default_rng([seed, label, index])
            class_dir = Path(folder) / split / class_name
            class_dir.mkdir(parents=True)
            for number, crop in enumerate(_crops(image, band, count, rng)):
                Image.fromarray(crop).convert("RGB").save(class_dir / f"{number:04d}.png")
    return {
        "name": "textures",
        "seed": seed,
        "classes": list(TEXTURE_CLASSES),
        "counts": OFFLINE_COUNTS,
        "image_size": OFFLINE_IMAGE_SIZE,
        "split": "vertical bands of each source photo: left 60% train, 20% val, right 20% test",
    }
