"""Walk a Keras model's layers, count its parameters and find its blocks, with public Keras API only.

The one parameter counter and the one BatchNormalization walker of the course:
:mod:`course_utils.checks`, :mod:`course_utils.training` and :mod:`course_utils.widgets` all call
these. Blocks are read from layer names (:func:`block_of`), so "unfreeze the top N layers" can be
checked against block boundaries (:func:`split_block`, :func:`top_block_layers`). Keras is imported
only when a BatchNormalization test needs it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["sublayers", "is_batch_norm", "batch_norms", "param_count", "trainable_params",
           "non_trainable_params", "block_of", "split_block", "top_block_layers"]

# keras.applications names a block's layers after it: block6d_expand_conv (EfficientNet),
# block_14_add (MobileNetV2), conv5_block3_out (ResNet, DenseNet), block5_conv3 (VGG, Xception).
_BLOCK_NAME = re.compile(r"((?:conv\d+_)?block_?\d+[a-z]?)(?:_|$)")


def sublayers(model: Any) -> list[Any]:
    """Every layer inside ``model``, nested models' layers included (``layers``, recursively).

    ``model`` itself is not in the list.
    """
    found = []
    for layer in getattr(model, "layers", ()):
        found.append(layer)
        found.extend(sublayers(layer))
    return found


def is_batch_norm(layer: Any) -> bool:
    """True for a ``keras.layers.BatchNormalization`` layer."""
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def batch_norms(model: Any) -> list[Any]:
    """The BatchNormalization layers of ``model`` (nested ones too; ``model`` itself if it is one)."""
    return [layer for layer in [model, *sublayers(model)] if is_batch_norm(layer)]


def param_count(variables: Iterable[Any]) -> int:
    """Number of scalars in ``variables`` (anything with a ``shape``)."""
    return int(sum(math.prod(variable.shape) for variable in variables))


def trainable_params(model: Any) -> int:
    """Number of parameters ``fit`` updates (the sizes of ``model.trainable_weights``)."""
    return param_count(model.trainable_weights)


def non_trainable_params(model: Any) -> int:
    """Number of frozen parameters, BatchNormalization moving statistics included."""
    return param_count(model.non_trainable_weights)


def block_of(name: str) -> str | None:
    """The block a layer belongs to, read from its name; None for a layer outside any block.

    Follows the naming of ``keras.applications`` (and the course's Lite0):
    ``block_of("block6d_expand_conv") == "block6d"``, ``block_of("conv5_block3_out") ==
    "conv5_block3"``, ``block_of("top_conv") is None``.
    """
    match = _BLOCK_NAME.match(name)
    return match.group(1) if match else None


def split_block(names: Sequence[str], n: int) -> tuple[str, int, int] | None:
    """Whether opening the top ``n`` of the layers named ``names`` cuts a block in two.

    Args:
        names: layer names, bottom to top (``[layer.name for layer in model.layers]``).
        n: how many layers, counted from the top, are opened.

    Returns:
        ``(block, frozen, opened)`` — the block the cut falls inside and how many of its layers
        stay frozen and are opened — or None when the cut lies between blocks.
    """
    cut = len(names) - n
    if not 0 < cut < len(names):
        return None
    block = block_of(names[cut])
    if block is None or block_of(names[cut - 1]) != block:
        return None
    members = [i for i, name in enumerate(names) if block_of(name) == block]
    return block, sum(i < cut for i in members), sum(i >= cut for i in members)


def top_block_layers(names: Sequence[str], k: int) -> int:
    """How many top layers cover the last ``k`` blocks and every layer above them.

    ``names`` are layer names, bottom to top. ``k = 0`` gives 0 (nothing opened).

    Raises:
        ValueError: ``k`` is negative or more than the blocks the names show.
    """
    starts: dict[str, int] = {}
    for i, name in enumerate(names):
        block = block_of(name)
        if block is not None:
            starts.setdefault(block, i)
    if not 0 <= k <= len(starts):
        raise ValueError(f"k must lie between 0 and {len(starts)} (the blocks found in the "
                         f"layer names), got {k}")
    return len(names) - list(starts.values())[len(starts) - k] if k else 0  # starts go up
