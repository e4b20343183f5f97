"""Walk a Keras model's layers and count its parameters, with public Keras API only.

The one parameter counter and the one BatchNormalization walker of the course:
:mod:`course_utils.checks`, :mod:`course_utils.training` and :mod:`course_utils.widgets` all call
these. Keras is imported only when a BatchNormalization test needs it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["sublayers", "is_batch_norm", "batch_norms", "param_count", "trainable_params",
           "non_trainable_params"]


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
