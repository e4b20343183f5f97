"""Run a frozen backbone over a dataset once, and keep the features on disk.

Feature extraction is the cheap half of transfer learning: the frozen ``base_model`` sees every
image exactly once, and a small head is then trained on the stored vectors in seconds. ``cached``
keeps the result in a ``.npz`` file keyed by the caller's key, the model's name and the input
and output shapes, so re-running a notebook does not recompute it. Cache files live under
``COURSE_CACHE_DIR`` or ``~/.cache/course-utils/features``, never in the working directory, and
are written to a temporary file first and renamed, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..atomic import atomic_path

__all__ = ["prepare", "extract", "cached"]


def prepare(ds: Any, shuffle: bool = False, seed: int = 0, buffer_size: int = 1000) -> Any:
    """Cache a ``tf.data.Dataset`` in memory, optionally shuffle it, and prefetch.

    Args:
        ds: a dataset (of batches, as ``image_dataset_from_directory`` gives).
        shuffle: reshuffle the (cached) elements each epoch.
        seed: shuffle seed.
        buffer_size: shuffle buffer, in elements.

    Returns:
        The dataset with ``cache()``, ``shuffle()`` when asked, and ``prefetch(AUTOTUNE)``.
    """
    import tensorflow as tf

    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def extract(
    base_model: Any,
    ds: Any,
    preprocess_input: Callable[[Any], Any] | None = None,
    verbose: int = 1,
    fold: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``base_model`` over every batch of ``ds`` once, with a progress bar.

    Args:
        base_model: a Keras model (frozen backbone) mapping images to features.
        ds: a dataset of ``(images, labels)`` batches.
        preprocess_input: applied to each image batch first (None: images go in unchanged).
        verbose: 1 shows Keras's progress bar, 0 is silent.
        fold: run a copy of a functional ``base_model`` with its BatchNormalization layers
            folded into the convolutions (:func:`course_utils.inference.fold_batchnorm`): the
            same features, about twice as fast on a CPU. Other models run as they are.

    Returns:
        ``(features, labels)``: float32 array (n, ...) and the labels as a NumPy array (n, ...),
        in dataset order.

    Raises:
        ValueError: the dataset has no elements.
    """
    import keras
    import tensorflow as tf

    if fold:
        from ..models import inference

        try:
            if inference.foldable_pairs(base_model):
                base_model = inference.fold_batchnorm(base_model)
        except TypeError:  # not a functional model: run it as it is
            pass
    steps = int(ds.cardinality())
    progbar = keras.utils.Progbar(steps if steps > 0 else None, verbose=verbose, unit_name="batch")
    features, labels = [], []
    for images, batch_labels in ds:  # one pass, so features and labels stay aligned
        if preprocess_input is not None:
            images = preprocess_input(tf.cast(images, tf.float32))
        features.append(np.asarray(base_model.predict_on_batch(images), dtype=np.float32))
        labels.append(np.asarray(batch_labels))
        progbar.add(1)
    if not features:
        raise ValueError("the dataset has no elements: check the folder or the batch size")
    return np.concatenate(features), np.concatenate(labels)


def _cache_path(base_model: Any, ds: Any, key: str, directory: Path) -> Path:
    shapes = f"{base_model.input_shape}->{base_model.output_shape}|{ds.element_spec}"
    digest = hashlib.sha256(f"{key}|{base_model.name}|{shapes}".encode())
    for variable in base_model.weights[:1] + base_model.weights[-1:]:  # pretrained vs random
        digest.update(np.asarray(variable).tobytes())
    digest = digest.hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{key}-{base_model.name}")[:80]
    return directory / f"{safe}-{digest}.npz"


def cached(
    base_model: Any,
    ds: Any,
    preprocess_input: Callable[[Any], Any] | None,
    key: str,
    directory: str | os.PathLike | None = None,
    verbose: int = 1,
    fold: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`extract`, but stored in a ``.npz`` file and read back on the next call.

    The file name combines ``key`` with the model's name, its input/output shapes, a fingerprint
    of its first and last weights and the dataset's element spec, so a different backbone,
    different weights (pretrained vs random) or image size never reads a stale file.
    ``key`` must name everything else that changes the result (dataset, split, samples per
    class, preprocessing).

    Args:
        base_model: the frozen backbone.
        ds: a dataset of ``(images, labels)`` batches (not reshuffled between epochs).
        preprocess_input: as in :func:`extract`.
        key: a name for this dataset and split, e.g. ``"textures-train-96"``.
        directory: cache folder (default :func:`course_utils.paths.features_dir`).
        verbose: progress bar on a cache miss.
        fold: as in :func:`extract`.

    Returns:
        ``(features, labels)`` as :func:`extract` returns them.

    Raises:
        ValueError: empty key.
    """
    if not key:
        raise ValueError("key must be a non-empty string naming the dataset and split")
    folder = Path(directory) if directory is not None else paths.features_dir()
    path = _cache_path(base_model, ds, key, folder)
    if path.is_file():
        with np.load(path) as stored:
            return stored["features"], stored["labels"]
    features, labels = extract(base_model, ds, preprocess_input, verbose=verbose, fold=fold)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, features=features, labels=labels)
    return features, labels
