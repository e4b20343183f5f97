"""Checks for exercise test cells: the same code runs in JupyterLab, Colab and the autograder.

Every check raises :class:`AssertionError` with a message that names the pitfall and what to do.
Answers are type-checked before they are compared, and comparisons use plain Python floats or
NumPy arrays the check made itself, never ``==`` on the student's object: an object whose
``__eq__`` always says True earns nothing.

Value checks (:mod:`.values`: :func:`expect_type`, :func:`expect_number`, :func:`expect_equal`,
:func:`expect_array`, :func:`expect_allclose`) need only NumPy. Model checks (:mod:`.models`:
:func:`expect_model` onwards) import Keras when called and use public Keras API, except through
:mod:`course_utils.runtime.keras_internals`, whose probes raise
:class:`~course_utils.errors.UnsupportedKerasError` (never pass) on a Keras they cannot read.
Checks return None on purpose: a value left as the last line of a test cell would be read by
nbgrader as a partial-credit score. Every public name is re-exported here, so test cells write
``checks.expect_equal(...)``; :mod:`.pipelines` (:func:`pipeline`, :func:`on_images`) makes
the preprocessing functions ex05's tests pass to a student's function, as data a replayed test
can send to the kernel. One module is not re-exported: :mod:`.experiment`, the judgement of
ex07's saved model, which the grader runs outside the student's kernel and whose notebook call
returns the points on purpose (``from course_utils.checks import experiment``).
"""

from __future__ import annotations

from .models import (
    expect_activation_matches_loss,
    expect_base_called_in_inference_mode,
    expect_bn_frozen,
    expect_compiled_after_trainable_change,
    expect_frozen,
    expect_model,
    expect_weights_unchanged_after_step,
    trainable_counts,
    validated_on,
)
from .pipelines import on_images, pipeline
from .values import expect_allclose, expect_array, expect_equal, expect_number, expect_type

__all__ = [
    "expect_type", "expect_number", "expect_equal", "expect_array", "expect_allclose",
    "expect_model", "trainable_counts", "expect_frozen", "expect_bn_frozen",
    "expect_weights_unchanged_after_step", "expect_base_called_in_inference_mode",
    "expect_compiled_after_trainable_change", "expect_activation_matches_loss",
    "validated_on", "pipeline", "on_images",
]
