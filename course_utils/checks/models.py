"""Keras model checks for exercise test cells: built, frozen, BatchNorm, training step, graph.

Keras is imported when a check is called. Public Keras API is used, except through
:mod:`course_utils.runtime.keras_internals`, whose probes raise
:class:`~course_utils.errors.UnsupportedKerasError` (never pass) on a Keras they cannot read.
Every check raises :class:`AssertionError` with a message that names the pitfall.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..models.layers import batch_norms, non_trainable_params, trainable_params
from .values import expect_type

__all__ = [
    "expect_model", "trainable_counts", "expect_frozen", "expect_bn_frozen",
    "expect_weights_unchanged_after_step", "expect_base_called_in_inference_mode",
    "expect_compiled_after_trainable_change", "expect_activation_matches_loss",
    "validated_on",
]


def expect_model(model: Any, name: str = "model") -> None:
    """Check ``model`` is a ``keras.Model`` that has been built.

    Raises:
        AssertionError: not a ``keras.Model``, or not built yet.
    """
    import keras

    expect_type(model, keras.Model, name)
    if not model.built:
        raise AssertionError(f"{name} is not built: give it an Input or call it on a batch")


def trainable_counts(model: Any) -> tuple[int, int]:
    """Return ``(trainable, non_trainable)`` parameter counts, like ``model.summary()``.

    Args:
        model: a built ``keras.Model`` (or layer).

    Returns:
        Two ints: parameters in trainable and in non-trainable weights.
    """
    return trainable_params(model), non_trainable_params(model)


def expect_frozen(base_model: Any, name: str = "base_model") -> None:
    """Check that no weight of ``base_model`` is trainable.

    Raises:
        AssertionError: saying how many parameters are still trainable.
    """
    expect_model(base_model, name)
    trainable, _ = trainable_counts(base_model)
    if trainable:
        raise AssertionError(f"{name} has {trainable:,} trainable parameters: set "
                             f"{name}.trainable = False before compiling")


def expect_bn_frozen(model: Any) -> None:
    """Check every BatchNormalization layer (nested ones too) is frozen.

    Raises:
        AssertionError: naming the first trainable BatchNormalization layer.
    """
    for layer in batch_norms(model):
        if layer.trainable:
            raise AssertionError(f"BatchNorm layer {layer.name} is trainable: keep "
                                 "BatchNormalization frozen when fine-tuning")


def expect_weights_unchanged_after_step(model: Any, base_model: Any, x: Any, y: Any) -> None:
    """Train ``model`` one step on ``(x, y)``; frozen weights and BN statistics must not move.

    The model's weights are restored afterwards, so the check does not change the answer.

    Raises:
        AssertionError: "BatchNorm statistics changed ..." or "frozen weights changed ...".
    """
    expect_model(model)
    if not model.compiled:
        raise AssertionError("model is not compiled: call model.compile(...) before training")
    saved = [np.array(w) for w in model.weights]
    frozen = {id(w): np.array(w) for w in base_model.weights if not w.trainable}
    bn_stats = {id(w) for layer in batch_norms(base_model)
                for w in (layer.moving_mean, layer.moving_variance)}
    try:
        model.train_on_batch(x, y)
        for weight in base_model.weights:
            if id(weight) not in frozen or np.allclose(frozen[id(weight)], np.array(weight)):
                continue
            if id(weight) in bn_stats:
                raise AssertionError("BatchNorm statistics changed in a training step: freeze "
                                     "the BatchNormalization layers (layer.trainable = False); in "
                                     "Keras 3, base_model(inputs, training=False) alone does not "
                                     "stop fit from updating them")
            raise AssertionError(f"frozen weight {weight.path} changed: set "
                                 "base_model.trainable = False, then compile again")
    finally:
        for weight, value in zip(model.weights, saved, strict=True):
            weight.assign(value)


def _base_calls(model: Any, base_model: Any) -> list[Any]:
    """The recorded calls of ``base_model`` in ``model``'s graph and in the models nested in it.

    Raises:
        AssertionError: a Sequential model holds ``base_model`` (it cannot pass training=False).
        course_utils.errors.UnsupportedKerasError: the graph cannot be read on this Keras.
    """
    import keras

    from ..runtime import keras_internals

    if isinstance(model, keras.Sequential):  # a Sequential model cannot pass training=False
        if any(layer is base_model for layer in model.layers):
            raise AssertionError("base_model is called without training=False: a Sequential "
                                 "model cannot pass it; build the model with the functional API "
                                 "(x = base_model(inputs, training=False))")
        calls, nested = [], list(model.layers)
    elif isinstance(model, keras_internals.functional_class()):
        own = keras_internals.layer_calls(model)
        calls = [c for c in own if c.operation is base_model]
        nested = [c.operation for c in own]
    else:
        return []
    for layer in nested:
        if layer is not base_model and layer is not model and isinstance(layer, keras.Model):
            calls += _base_calls(layer, base_model)
    return calls


def expect_base_called_in_inference_mode(model: Any, base_model: Any) -> None:
    """Check ``model``'s graph calls ``base_model`` with ``training=False``.

    Reads the call arguments recorded in the functional graph
    (:func:`course_utils.runtime.keras_internals.layer_calls`), also inside the models nested in
    ``model`` (a classifier used as one layer of a bigger model, say).

    Raises:
        AssertionError: base not used by the model, or called without ``training=False``.
        course_utils.errors.UnsupportedKerasError: this Keras does not expose the graph where the
            course reads it (the check cannot pass then).
    """
    expect_model(model)
    calls = _base_calls(model, base_model)
    if not calls:
        raise AssertionError("model does not call base_model: build it with the functional API "
                             "(x = base_model(inputs, training=False))")
    for call in calls:
        if call.kwargs.get("training", None) is not False:
            raise AssertionError("base_model is called without training=False: write "
                                 "base_model(inputs, training=False), the keras.io convention for "
                                 "a pretrained base (in Keras 3 fit's training=True overrides it, "
                                 "so also keep BatchNormalization frozen when you unfreeze)")


def expect_compiled_after_trainable_change(model: Any) -> None:
    """Check ``model``'s compiled training step trains exactly its current trainable variables.

    Two pieces of evidence are compared with the current flags and variables: the trainable flags
    Keras (3.15 and later) records at compile time, and, once the optimizer is built (after a
    training step), the variables it updates. Keras 3.13 and 3.14 record no flags; there a model
    that has not trained since its last compile passes, because its first ``fit`` builds the
    training step from the flags of that moment.

    Raises:
        AssertionError: not compiled, or flags changed after compile without a new compile.
        course_utils.errors.UnsupportedKerasError: this Keras keeps the evidence under other names
            (the check cannot pass then).
    """
    from ..runtime import keras_internals

    expect_model(model)
    if not model.compiled:
        raise AssertionError("model is not compiled: call model.compile(...)")
    flags = keras_internals.compiled_trainable_flags(model)
    changed = [layer.name for layer, flag in (flags or {}).items() if layer.trainable != flag]
    optimizer = model.optimizer
    if optimizer is not None and optimizer.built:
        tracked = {id(v) for v in keras_internals.optimizer_variables(optimizer)}
        if tracked != {id(v) for v in model.trainable_variables}:
            changed.append("the optimizer updates a different set of variables")
    elif flags is None and model.train_function is not None:
        raise keras_internals.UnsupportedKerasError(
            f"cannot tell which variables the compiled training step of Keras "
            f"{keras_internals.keras_version()} updates: this check does not support it")
    if changed:
        raise AssertionError("trainable flags changed after compile (" + ", ".join(changed[:5])
                             + "): call model.compile(...) again, with a new optimizer, after "
                             "(un)freezing layers")


def _output_activation(model: Any) -> str:
    import keras

    layer = model.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation)) if activation else "linear"


def _from_logits(loss: Any) -> bool | None:
    """``from_logits`` of a loss (public API only); None when the idea does not apply.

    Raises:
        AssertionError: a cross-entropy (or an unknown callable) whose ``from_logits`` cannot be
            read.
    """
    import inspect

    import keras

    if isinstance(loss, str):
        return False if "crossentropy" in loss else None
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        if "from_logits" in config:
            return bool(config["from_logits"])
        if "crossentropy" not in type(loss).__name__.lower():
            return None  # a regression loss, say: no logits involved
    elif callable(loss):
        try:
            parameter = inspect.signature(loss).parameters.get("from_logits")
        except (TypeError, ValueError):
            parameter = None
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return bool(parameter.default)
    raise AssertionError(f"cannot tell whether the loss {loss!r} expects logits: compile with a "
                         "keras.losses class, e.g. keras.losses.SparseCategoricalCrossentropy("
                         "from_logits=True)")


def expect_activation_matches_loss(model: Any) -> None:
    """Check the output activation agrees with the loss's ``from_logits``.

    Raises:
        AssertionError: softmax/sigmoid output with ``from_logits=True`` (probabilities treated as
            logits), a linear output with ``from_logits=False``, or a cross-entropy loss whose
            ``from_logits`` cannot be read.
    """
    expect_model(model)
    if not model.compiled:
        raise AssertionError("model is not compiled: call model.compile(...)")
    loss = getattr(model, "loss", None)
    if loss is None:
        raise AssertionError("model is compiled without a loss: pass loss=... to compile")
    activation, from_logits = _output_activation(model), _from_logits(loss)
    if from_logits is None:
        return
    if from_logits and activation in ("softmax", "sigmoid"):
        raise AssertionError(f"the output layer applies {activation} but the loss has "
                             "from_logits=True: remove the activation or set from_logits=False")
    if not from_logits and activation == "linear":
        raise AssertionError("the output layer is linear (logits) but the loss has "
                             "from_logits=False: use from_logits=True in the loss")


def validated_on(model: Any, x: Any, y: Any) -> bool:
    """Whether ``model``'s last ``fit`` validated on ``(x, y)`` (the test split, say).

    Read from what ``fit`` left on the model, not from how it was called: the validation loss
    of each epoch (``model.history``), which for data ``(x, y)`` equals the loss the model has
    on them now at the epoch whose weights it kept (the last one, or the best one that early
    stopping restored). Another validation set's loss matching it to six digits would be a
    coincidence.

    Returns:
        False also when the model kept no history (not fitted, or fitted without validation).
    """
    history = getattr(getattr(model, "history", None), "history", None)
    recorded = history.get("val_loss") if isinstance(history, dict) else None
    if not recorded or not getattr(model, "compiled", False):
        return False
    loss = float(model.evaluate(x, y, verbose=0, return_dict=True)["loss"])
    return any(math.isclose(float(value), loss, rel_tol=1e-5, abs_tol=1e-7)
               for value in recorded)
