"""ImageNet-1k class names and decoding of model outputs, offline.

``keras.applications.imagenet_utils.decode_predictions`` downloads its class index on first use,
which fails offline. The 1000 names ship inside keras-hub instead (``keras_hub.utils.
imagenet_id_to_name``, the WordNet synsets of the ILSVRC-2012 classes in the standard order), so
this module reads them from there: :data:`SOURCE` says which package and version.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["NUM_CLASSES", "SOURCE", "class_names", "decode"]

NUM_CLASSES = 1000
SOURCE = "keras_hub.utils.imagenet_id_to_name (keras-hub 0.32, Apache-2.0): ILSVRC-2012 class names"


@functools.lru_cache(maxsize=1)
def class_names() -> list[str]:
    """Return the 1000 ImageNet class names in index order (``0: "tench"`` ... ``999``).

    Names keep keras-hub's spelling (``"Egyptian_cat"``, ``"espresso"``).
    """
    from ..runtime.tf import quiet_tensorflow

    quiet_tensorflow()
    import keras_hub

    return [keras_hub.utils.imagenet_id_to_name(i) for i in range(NUM_CLASSES)]


def decode(probs: Any, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """Turn model outputs into the ``top`` most likely ImageNet classes per image.

    Args:
        probs: array or tensor of shape ``(batch, 1000)``, ``(batch, 1001)`` (index 0 is the
            "background" class of some TensorFlow models; it is dropped) or one such row.
        top: how many classes to keep per image, 1 to 1000.

    Returns:
        One list per image of ``(class index 0..999, name, probability)``, most likely first.

    Raises:
        ValueError: wrong shape or ``top`` out of range.
    """
    import numpy as np

    if not isinstance(top, (int, np.integer)) or isinstance(top, bool) or not 1 <= top <= 1000:
        raise ValueError(f"top must be an integer from 1 to 1000, not {top!r}")
    if not isinstance(probs, np.ndarray) and hasattr(probs, "shape"):
        import keras

        probs = keras.ops.convert_to_numpy(probs)
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] not in (NUM_CLASSES, NUM_CLASSES + 1):
        raise ValueError(f"decode expects ImageNet outputs of shape (batch, 1000) or (batch, "
                         f"1001), got shape {np.shape(probs)}: pass the output of a model with "
                         "its ImageNet classifier (include_top=True)")
    if array.shape[1] == NUM_CLASSES + 1:
        array = array[:, 1:]  # drop the background class
    names = class_names()
    results = []
    for row in array:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([(int(i), names[i], float(row[i])) for i in best])
    return results
