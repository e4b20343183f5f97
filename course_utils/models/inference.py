"""Make a trained model cheaper to run for inference: fold batch normalisation into convolutions.

In inference mode a ``BatchNormalization`` layer is a fixed per-channel affine map,
``y = (x - moving_mean) * gamma / sqrt(moving_variance + epsilon) + beta``. When it directly
follows a convolution, that map can be merged into the convolution's kernel and bias, so the
network does the same arithmetic with one pass over each feature map instead of several. Keras 3
runs batch normalisation as separate element-wise operations and TensorFlow's graph optimiser
does not merge them, so folding saves real time on a CPU (MobileNetV2 has 52 such layers).
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

from ..errors import UnsupportedKerasError
from ..runtime import keras_internals

__all__ = ["fold_batchnorm", "foldable_pairs", "FoldingUnavailableWarning"]

_warned = False  # say once per process that folding is off


class FoldingUnavailableWarning(UserWarning):
    """This Keras lacks an internal that folding needs; models run unfolded (same results)."""


def _unavailable(error: UnsupportedKerasError) -> None:
    """Warn (once per process) that folding is off on this Keras."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"BatchNorm folding is off, models run unfolded (same results, slower): "
                      f"{error}", FoldingUnavailableWarning, stacklevel=3)


def _check_model(model: Any) -> None:
    """Raise TypeError unless ``model`` is a functional model (UnsupportedKerasError if unsure)."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"fold_batchnorm expects a keras.Model, got {type(model).__name__}")
    if isinstance(model, keras.Sequential) or not isinstance(
            model, keras_internals.functional_class()):
        raise TypeError(
            f"fold_batchnorm needs a functional model, got {type(model).__name__}: rebuild it "
            "with keras.Model(inputs, outputs) (a built Sequential model: "
            "keras.Model(model.inputs, model.outputs))"
        )


def _channel_axis(conv: Any) -> int:
    return 1 if conv.data_format == "channels_first" else 3


def _pairs(model: Any) -> dict[int, Any]:
    """:func:`foldable_pairs` without the fallback (UnsupportedKerasError propagates)."""
    import keras

    _check_model(model)
    calls = keras_internals.layer_calls(model)
    call_count = Counter(id(call.operation) for call in calls)
    consumers = Counter(id(t) for call in calls for t in call.inputs)
    consumers.update(id(t) for t in model.outputs)
    producer = {id(t): call.operation for call in calls for t in call.outputs}
    pairs = {}
    for call in calls:
        bn = call.operation
        if type(bn) is not keras.layers.BatchNormalization or call_count[id(bn)] != 1:
            continue
        if len(call.inputs) != 1 or call.kwargs.get("training") is True:
            continue
        tensor = call.inputs[0]
        conv = producer.get(id(tensor))
        if type(conv) not in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D):
            continue
        if (call_count[id(conv)] != 1 or consumers[id(tensor)] != 1
                or conv.activation is not keras.activations.linear
                or getattr(conv, "quantization_mode", None) is not None
                or getattr(conv, "lora_enabled", False)
                or bn.axis % 4 != _channel_axis(conv)):
            continue
        pairs[id(bn)] = pairs[id(conv)] = (conv, bn)
    return pairs


def foldable_pairs(model: Any) -> dict[int, Any]:
    """Find the (convolution, batch normalisation) pairs of ``model`` that can be folded.

    A pair is foldable when the ``BatchNormalization`` layer's only input is the output of a
    ``Conv2D`` or ``DepthwiseConv2D`` with no activation, that output has no other consumer (and is
    not a model output), both layers are used exactly once in the model, and the normalised axis is
    the convolution's channel axis.

    Args:
        model: a functional ``keras.Model``.

    Returns:
        A dict mapping ``id(bn_layer)`` and ``id(conv_layer)`` to the ``(conv_layer, bn_layer)``
        pair; nested models are not searched. Empty, with a one-time
        :class:`FoldingUnavailableWarning`, on a Keras whose graph internals the course cannot
        read.

    Raises:
        TypeError: ``model`` is not a functional ``keras.Model``.
    """
    try:
        return _pairs(model)
    except UnsupportedKerasError as error:
        _unavailable(error)
        return {}


def _folded_weights(conv: Any, bn: Any) -> list:
    """Return ``[kernel, bias]`` of ``conv`` with ``bn`` (inference mode) folded in."""
    import numpy as np
    from keras import ops

    def value(variable, default):
        return default if variable is None else ops.convert_to_numpy(variable).astype("float64")

    kernel = ops.convert_to_numpy(conv.kernel)
    dtype = kernel.dtype
    mean = value(bn.moving_mean, None)
    variance = value(bn.moving_variance, None)
    gamma = value(bn.gamma, np.ones_like(mean))
    beta = value(bn.beta, np.zeros_like(mean))
    scale = gamma / np.sqrt(variance + bn.epsilon)
    if type(conv).__name__ == "DepthwiseConv2D":
        # Kernel (kh, kw, in_channels, depth_multiplier); output channel = in * multiplier + m.
        kernel = kernel.astype("float64") * scale.reshape(kernel.shape[2:])
    else:
        kernel = kernel.astype("float64") * scale  # (kh, kw, in_channels / groups, filters)
    bias = value(conv.bias, np.zeros_like(mean)) if conv.use_bias else np.zeros_like(mean)
    bias = (bias - mean) * scale + beta
    return [kernel.astype(dtype), bias.astype(dtype)]


def fold_batchnorm(model: Any) -> Any:
    """Return a copy of ``model`` with batch normalisation folded into the convolutions before it.

    Every ``BatchNormalization`` that directly follows a ``Conv2D`` or ``DepthwiseConv2D`` (and is
    that convolution's only consumer) becomes a ``keras.layers.Identity`` of the same name, and the
    convolution gets ``use_bias=True`` with ``kernel * scale`` and
    ``(bias - moving_mean) * scale + beta``, where ``scale = gamma / sqrt(moving_variance +
    epsilon)`` per output channel. Other layers, including batch normalisation that cannot be folded
    (after an ``Add``, say), are copied with their weights; nested functional models are folded too.
    The copy computes what ``model(x, training=False)`` computes, up to float rounding, with fewer
    operations.

    It is for inference only (feature extraction, prediction): the batch statistics are baked into
    the kernels, so do NOT train or fine-tune the folded model; fine-tune the original and fold
    again afterwards. ``model`` itself is not modified.

    Args:
        model: a functional ``keras.Model`` (``keras.applications`` models, for instance).

    Returns:
        A new functional ``keras.Model`` with the same inputs, outputs and layer names; ``model``
        itself, with a one-time :class:`FoldingUnavailableWarning`, on a Keras whose graph
        internals the course cannot read (:mod:`course_utils.runtime.keras_internals`).

    Raises:
        TypeError: ``model`` is not a ``keras.Model``, or is not functional (a subclassed or
            Sequential model).
    """
    try:
        pairs = _pairs(model)
    except UnsupportedKerasError as error:
        _unavailable(error)
        return model
    return _fold(model, pairs)


def _fold(model: Any, pairs: dict[int, Any]) -> Any:
    """Clone ``model`` with ``pairs`` folded (see :func:`fold_batchnorm`)."""
    import keras

    functional = keras_internals.functional_class()
    clones = []  # (original layer, its clone) pairs whose weights must be copied or folded
    identities = set()  # ids of the Identity layers that replace folded BatchNormalization

    def clone_function(layer):
        if isinstance(layer, functional) and not isinstance(layer, keras.Sequential):
            return _fold(layer, _pairs(layer))  # nested models carry their own folded weights
        pair = pairs.get(id(layer))
        if pair is not None and layer is pair[1]:
            identity = keras.layers.Identity(name=layer.name, dtype=layer.dtype_policy)
            identities.add(id(identity))
            return identity
        config = layer.get_config()
        if pair is not None:
            config["use_bias"] = True
        clone = layer.__class__.from_config(config)
        clones.append((layer, clone))
        return clone

    def call_function(layer, *args, **kwargs):
        if id(layer) in identities:
            return layer(args[0])  # drop the BatchNormalization call's training / mask arguments
        return layer(*args, **kwargs)

    input_names = {id(layer.output): layer.name for layer in model.layers
                   if isinstance(layer, keras.layers.InputLayer)}

    def new_input(tensor):  # keep the input layers' names too
        return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype,
                           name=input_names.get(id(tensor)))

    input_tensors = keras.tree.map_structure(new_input, model.input)
    folded = keras.models.clone_model(model, input_tensors=input_tensors,
                                      clone_function=clone_function, call_function=call_function)
    for layer, clone in clones:
        pair = pairs.get(id(layer))
        clone.set_weights(_folded_weights(*pair) if pair else layer.get_weights())
    return folded
