"""One-line plots for the lessons; every function returns its matplotlib Figure.

    >>> course_utils.plots.history({"pretrained": history_a, "scratch": history_b})
    >>> course_utils.plots.predictions(images, course_utils.imagenet.decode(probs, top=3))

Only matplotlib is used; the notebook's backend decides where figures go (tests use Agg).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["history", "image_grid", "predictions", "confusion_matrix"]


def _curves(run: Any) -> Mapping[str, Sequence[float]]:
    """The per-epoch metrics of a keras ``History`` or of a plain ``{"loss": [...]}`` mapping."""
    curves = getattr(run, "history", run)
    if not isinstance(curves, Mapping):
        raise TypeError(
            f"Expected a keras History or a dict of metric lists, got {type(run).__name__}"
        )
    return curves


def history(histories: Mapping[str, Any], metric: str = "accuracy", ax: Any = None) -> Figure:
    """Training (solid) and validation (dashed) curves of several runs on one set of axes.

    Args:
        histories: run name -> ``keras.callbacks.History`` (what ``fit`` returns) or a dict
            such as ``{"accuracy": [...], "val_accuracy": [...]}``.
        metric: the metric to draw, e.g. ``"accuracy"`` or ``"loss"``.
        ax: axes to draw on; a new figure is made when None.

    Returns:
        The Figure. Each run keeps one colour; epochs are numbered from 1.

    Raises:
        ValueError: if ``histories`` is empty or a run lacks ``metric``.
        TypeError: if a run is neither a History nor a mapping.
    """
    if not histories:
        raise ValueError("Give at least one run, e.g. history({'pretrained': history_a}).")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for index, (name, run) in enumerate(histories.items()):
        curves = _curves(run)
        if metric not in curves:
            raise ValueError(
                f"Run {name!r} has no {metric!r}; it has {sorted(curves)}. Pick one of those."
            )
        colour = f"C{index % 10}"
        epochs = np.arange(1, len(curves[metric]) + 1)
        ax.plot(epochs, curves[metric], color=colour, label=f"{name} train")
        if f"val_{metric}" in curves:
            val = curves[f"val_{metric}"]
            ax.plot(np.arange(1, len(val) + 1), val, "--", color=colour, label=f"{name} val")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 1.5" on short runs
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.legend()
    return fig


def _as_image(image: Any) -> np.ndarray:
    """An image as something imshow draws right: uint8, or float scaled into 0..1."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float32)
    if image.size and image.max() > 1.0:  # float 0..255, as image_dataset_from_directory gives
        image = image / 255.0
    return np.clip(image, 0.0, 1.0)


def _grid(count: int, ncols: int, row_height: float = 2.6) -> tuple[Figure, np.ndarray]:
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    if count < 1:
        raise ValueError("Give at least one image.")
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.5 * ncols, row_height * nrows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[count:]:
        ax.remove()
    return fig, axes[:count]


def image_grid(
    images: Sequence[Any] | np.ndarray, titles: Sequence[str] | None = None, ncols: int = 4
) -> Figure:
    """Show images in a grid, optionally titled.

    Args:
        images: a batch ``(n, H, W, 3)`` or list of ``(H, W[, C])`` arrays, uint8 or float in
            0..1 or 0..255.
        titles: one title per image, or None.
        ncols: images per row.

    Returns:
        The Figure, with one axes per image.

    Raises:
        ValueError: if there are no images, ``titles`` has the wrong length or ``ncols`` < 1.
    """
    images = list(images)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Got {len(images)} images but {len(titles)} titles; give one each.")
    fig, axes = _grid(len(images), ncols)
    for i, (ax, image) in enumerate(zip(axes, images, strict=True)):
        ax.imshow(_as_image(image), cmap="gray")
        ax.axis("off")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return fig


def predictions(
    images: Sequence[Any] | np.ndarray,
    decoded: Sequence[Sequence[tuple[int, str, float]]],
    ncols: int = 4,
) -> Figure:
    """Images with their top-k predicted labels and probabilities written under each.

    Args:
        images: as for :func:`image_grid`.
        decoded: per image, a list of ``(class_index, label, probability)``, best first, as
            ``course_utils.imagenet.decode`` returns.
        ncols: images per row.

    Returns:
        The Figure; each axes' x-label holds lines like ``"tabby 87.1%"``.

    Raises:
        ValueError: if ``decoded`` does not have one entry per image.
    """
    images = list(images)
    if len(decoded) != len(images):
        raise ValueError(f"Got {len(images)} images but {len(decoded)} predictions; give one each.")
    fig, axes = _grid(len(images), ncols, row_height=2.5 + 0.25 * max(map(len, decoded)))
    for ax, image, top in zip(axes, images, decoded, strict=True):
        ax.imshow(_as_image(image), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("\n".join(f"{label} {100 * prob:.1f}%" for _, label, prob in top), fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    normalize: bool = True,
) -> Figure:
    """A confusion matrix: rows are true classes, columns predicted ones.

    Args:
        y_true: integer labels.
        y_pred: integer predictions (take ``argmax`` of probabilities first).
        class_names: names of classes ``0 .. num_classes - 1``.
        normalize: divide each row by its count, so the diagonal is each class's recall.

    Returns:
        The Figure; the matrix drawn is ``fig.axes[0].images[0].get_array()``.

    Raises:
        ValueError: on length mismatch or labels outside ``0 .. len(class_names) - 1``.
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
    num_classes = len(class_names)
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError(
            f"y_true and y_pred must be equally long and non-empty "
            f"(got {len(y_true)} and {len(y_pred)})."
        )
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(
                f"{name} has labels outside 0..{num_classes - 1}; "
                "pass integer labels (argmax of probabilities) and all class names."
            )
    matrix = np.zeros((num_classes, num_classes))
    np.add.at(matrix, (y_true, y_pred), 1)
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.5 * num_classes + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    shown = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(num_classes)
    ax.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if num_classes <= 20:
        for (i, j), value in np.ndenumerate(matrix):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            colour = "white" if value > 0.6 * matrix.max() else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.set_title("confusion matrix" + (" (row-normalised)" if normalize else ""))
    fig.tight_layout()
    return fig
