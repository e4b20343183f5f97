"""Preprocessing functions that ex05's tests hand to a student's function.

A test of ``find_contract`` or ``diagnose`` passes the student's function candidate
preprocessings and broken pipelines. They are made here, as ``functools.partial`` objects of
this module's functions with data as their arguments, rather than as ``lambda`` in the test
cell: a test replayed outside the kernel passes them to the student's kernel by name and
arguments (:mod:`course_utils.grading.answers`), and they read the same in a student's notebook.

- :func:`pipeline` builds a pipeline from steps (Keras's ``preprocess_input``, which edits a
  float array in place, an affine map, a channel swap);
- :func:`on_images` wraps one so that it refuses to run on other photos than the ones the
  student's function was given, with a message that names the mistake.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["pipeline", "on_images"]

STEPS = {"keras": 2, "affine": 3, "bgr": 1}  # a step's name -> its length, name included


def pipeline(*steps: tuple) -> Callable[[np.ndarray], Any]:
    """A function from a batch of RGB 0..255 photos to a model's input, made of ``steps``.

    Each step is a tuple, applied in order:

    - ``("keras", family)``: ``keras.applications.<family>.preprocess_input(x)``, which edits
      a float array in place, as it does in a student's own pipeline;
    - ``("affine", scale, offset)``: ``x * scale + offset`` (``offset`` a number or one per
      channel), a new array;
    - ``("bgr",)``: the channels reversed, a new array.

    Raises:
        ValueError: a step is not one of these.
    """
    for step in steps:
        if not (isinstance(step, tuple) and step and STEPS.get(step[0]) == len(step)):
            raise ValueError(f"unknown pipeline step {step!r}: use ('keras', family), "
                             "('affine', scale, offset) or ('bgr',)")
    return functools.partial(run_pipeline, steps=steps)


def run_pipeline(x: Any, steps: tuple) -> Any:
    """Apply :func:`pipeline`'s ``steps`` to ``x``."""
    for name, *arguments in steps:
        if name == "keras":
            import keras

            x = getattr(keras.applications, arguments[0]).preprocess_input(x)
        elif name == "affine":
            scale, offset = arguments
            x = np.asarray(x, dtype="float32") * np.float32(scale) \
                + np.asarray(offset, dtype="float32")
        else:
            x = np.ascontiguousarray(np.asarray(x)[..., ::-1])
    return x


def on_images(function: Callable, images: np.ndarray, message: str | None = None,
              elsewhere: np.ndarray | None = None,
              elsewhere_message: str | None = None) -> Callable[[np.ndarray], Any]:
    """``function``, for a test to pass to a student's function together with ``images``.

    Called on photos that are all among ``images`` it runs ``function``. Called on others it
    raises :class:`AssertionError`: with ``elsewhere_message`` when they are all among
    ``elsewhere`` (the notebook's own photos: the student's function read a global instead of
    its argument), else with ``message`` (an earlier call changed the photos in place); with
    no ``message`` it runs ``function`` on them.
    """
    return functools.partial(run_on_images, function=function, images=np.array(images),
                             message=message, elsewhere=elsewhere,
                             elsewhere_message=elsewhere_message)


def _among(seen: np.ndarray, batch: np.ndarray) -> bool:
    """Whether every image in ``seen`` (a batch, or a batch of batches) is one of ``batch``'s."""
    if seen.size % batch[0].size:
        return False
    return all(any(np.array_equal(row, image) for image in batch)
               for row in seen.reshape(-1, *batch.shape[1:]))


def run_on_images(x: Any, function: Callable, images: np.ndarray, message: str | None,
                  elsewhere: np.ndarray | None, elsewhere_message: str | None) -> Any:
    """:func:`on_images`'s check, then ``function(x)``."""
    seen = np.asarray(x, dtype="float64")
    if not _among(seen, images):
        if elsewhere is not None and _among(seen, elsewhere):
            raise AssertionError(elsewhere_message)
        if message is not None:
            raise AssertionError(message)
    return function(x)
