"""Real sample photos that installed packages ship, for trying a pretrained classifier offline.

scikit-image bundles a few photographs in its wheel (others in ``skimage.data`` are downloaded
with pooch on first use: none of those are listed here). Each :class:`Sample` records the
ImageNet class indices that count as a correct top-1 answer, so a lesson can assert "the model
recognises the cat" instead of eyeballing a printout.

Checked with EfficientNet-Lite0 (centre crop, 224 px): chelsea -> Egyptian cat (0.40), coffee ->
espresso (0.94), camera -> tripod (0.94); also right at 160 px. At 96 px coffee becomes
"coffeepot": classify samples at the model's own input size. Candidates left out because their
top-1 changes with the image size or has no ImageNet class: skimage's rocket (missile at 224,
drilling platform at 160), astronaut (no class), scikit-learn's china.jpg (palace / monastery /
bell cote) and flower.jpg (a dahlia; no such class).

``load`` returns the photo as ``uint8`` RGB; with ``size`` it first crops the centred square
(``crop=True``, what ImageNet evaluation does, so the subject keeps its proportions) or squeezes
the whole photo (``crop=False``), then resizes with Pillow's antialiased bilinear filter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["Sample", "SAMPLES", "names", "load", "batch"]

_SKIMAGE = "scikit-image (skimage.data, bundled in the wheel)"


@dataclasses.dataclass(frozen=True)
class Sample:
    """One bundled photo.

    Attributes:
        name: key in :data:`SAMPLES`.
        expected_classes: ImageNet-1k class indices (0..999) that count as a correct top-1.
        label: what the photo shows, in words.
        source: the package and function that ship it.
        licence: the licence its package states.
    """

    name: str
    expected_classes: tuple[int, ...]
    label: str
    source: str
    licence: str


SAMPLES: dict[str, Sample] = {
    sample.name: sample
    for sample in (
        Sample(
            "chelsea",
            (281, 282, 283, 284, 285),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
            "Chelsea the cat",
            f"{_SKIMAGE}: skimage.data.chelsea()",
            "CC0 (photographer Stefan van der Walt)",
        ),
        Sample(
            "coffee",
            (967, 968, 504),  # espresso, cup, coffee mug
            "a cup of espresso on a saucer",
            f"{_SKIMAGE}: skimage.data.coffee()",
            "CC0 (photographer Rachel Michetti, courtesy of Pikolo Espresso Bar)",
        ),
        Sample(
            "camera",
            (872, 759, 732),  # tripod, reflex camera, Polaroid camera
            "a photographer with a camera on a tripod (grayscale)",
            f"{_SKIMAGE}: skimage.data.camera()",
            "CC0 (photographer Lav Varshney)",
        ),
    )
}

# How to read each sample without touching the network.
_LOADERS: dict[str, Callable[[], np.ndarray]] = {}


def _skimage(function: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, function)()

    return read


_LOADERS.update(
    chelsea=_skimage("chelsea"),
    coffee=_skimage("coffee"),
    camera=_skimage("camera"),
)


def names() -> list[str]:
    """Return the sample names, in table order."""
    return list(SAMPLES)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.shape[-1] == 4:
        image = image[..., :3]
    return np.ascontiguousarray(image, dtype=np.uint8)


def load(name: str, size: int | None = None, crop: bool = True) -> np.ndarray:
    """Load a bundled photo as RGB.

    Args:
        name: one of :func:`names`.
        size: if given, the side of the square output in pixels.
        crop: with ``size``, crop the centred square first (True) or resize the whole photo,
            changing its aspect ratio (False).

    Returns:
        ``uint8`` array of shape (H, W, 3), or (size, size, 3) when ``size`` is given.

    Raises:
        ValueError: for an unknown name or a size < 1.
    """
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}: choose one of {', '.join(names())}")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    image = _to_rgb(_LOADERS[name]())
    if size is None:
        return image
    if crop:
        height, width = image.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top : top + side, left : left + side]
    from PIL import Image

    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def batch(sample_names: Sequence[str] | None = None, size: int = 224) -> np.ndarray:
    """Stack samples into one model input.

    Args:
        sample_names: names to load (default: all of :func:`names`).
        size: side of each centre-cropped square image.

    Returns:
        ``float32`` array (n, size, size, 3) with values 0..255, in the order given.

    Raises:
        ValueError: for an unknown name or an empty list.
    """
    sample_names = names() if sample_names is None else list(sample_names)
    if not sample_names:
        raise ValueError("sample_names is empty: pass at least one name, or None for all")
    return np.stack([load(name, size) for name in sample_names]).astype(np.float32)
