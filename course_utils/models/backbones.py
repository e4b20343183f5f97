"""The backbone registry: one entry per pretrained image model the course uses.

Each :class:`Backbone` records what a student needs to use the model correctly: its family, year
and paper, default input size, the preprocessing contract (``caffe``: BGR with ImageNet mean
subtracted; ``tf``: scaled to [-1, 1]; ``torch``: [0, 1] then ImageNet mean/std; ``builtin``: the
model rescales itself and expects [0, 255]; ``lite``: ``(x - 127) / 128``), the published
ImageNet top-1 accuracy, how to build it, and where its ImageNet weights come from (a
:mod:`course_utils.weights.sources` source: a checked download, or an installed package).
``build`` gives ImageNet weights through :mod:`course_utils.weights.resolver`, so an offline
machine gets a clear error instead of a URL traceback. The registry-wide weights commands
(:mod:`course_utils.weights.store`) read this table; this module does not import them.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..weights.sources import LITE0, MOBILENET_V2_TORCH, WeightsSource, keras_download

__all__ = [
    "Backbone", "BACKBONES", "PREPROCESSING_MODES", "get", "names", "build", "preprocess",
    "for_profile",
]

PREPROCESSING_MODES = {
    "caffe": "RGB->BGR, subtract the ImageNet channel means, no scaling (expects 0..255 in)",
    "tf": "scale 0..255 to [-1, 1]",
    "torch": "scale to [0, 1], subtract ImageNet mean, divide by std",
    "builtin": "none: the model rescales inside; feed 0..255",
    "lite": "(x - 127) / 128, about [-1, 1]",
}

_KERAS_DOCS = "https://keras.io/api/applications/"


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One registry entry.

    Attributes:
        name: registry key, lower case (``"mobilenet_v2"``).
        keras_name: the constructor's name (``"MobileNetV2"``).
        family: architecture family for grouping (``"MobileNet"``).
        year: year of the paper.
        paper: short citation of the paper that introduced it.
        idea: the one idea the family introduced, in a phrase.
        input_size: default square input side in pixels.
        preprocessing: one of :data:`PREPROCESSING_MODES`.
        top1: published ImageNet top-1 accuracy (fraction).
        top1_source: where ``top1`` was published.
        module: import path of the module with the constructor and ``preprocess_input``.
        weights: where its ImageNet weights come from
            (:class:`~course_utils.weights.sources.Download` or
            :class:`~course_utils.weights.sources.InstalledPackage`).
    """

    name: str
    keras_name: str
    family: str
    year: int
    paper: str
    idea: str
    input_size: int
    preprocessing: str
    top1: float
    top1_source: str
    module: str
    weights: WeightsSource

    @property
    def constructor(self) -> Callable[..., Any]:
        """The Keras constructor (``keras.applications.MobileNetV2`` or the course's Lite0)."""
        module = importlib.import_module(self.module)
        if not hasattr(module, self.keras_name):  # keras.applications.mobilenet_v3 lacks them
            module = importlib.import_module("keras.applications")
        return getattr(module, self.keras_name)

    @property
    def preprocess_input(self) -> Callable[[Any], Any]:
        """The model's own ``preprocess_input``: takes RGB in 0..255, returns model inputs."""
        return importlib.import_module(self.module).preprocess_input


def _app(name, keras_name, family, year, paper, idea, size, mode, top1, module, *, weights,
         source=_KERAS_DOCS):
    return Backbone(name, keras_name, family, year, paper, idea, size, mode, top1, source,
                    f"keras.applications.{module}", weights)


_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_EFF = "https://storage.googleapis.com/keras-applications/"
_TF = "_weights_tf_dim_ordering_tf_kernels"
_MIT, _APACHE = "MIT", "Apache-2.0"


_VGG = "Simonyan & Zisserman, Very Deep Convolutional Networks (2014)"
_RESNET = "He et al., Deep Residual Learning for Image Recognition (2015)"
_EFFNET = "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs (2019)"
_MNV3 = "Howard et al., Searching for MobileNetV3 (2019)"
_MNV3_SRC = "https://keras.io/api/applications/mobilenet/#mobilenetv3large-function"

BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        _app("vgg16", "VGG16", "VGG", 2014, _VGG, "depth from stacked 3x3 convolutions",
             224, "caffe", 0.713, "vgg16",
             weights=keras_download(_GCS + "vgg16/", f"vgg16{_TF}.h5",
                                    "64373286793e3c8b2b4e3219cbf3544b", f"vgg16{_TF}_notop.h5",
                                    "6d6bbae143d832006294945121d1f1fc", "CC-BY-4.0", "vgg16.py")),
        _app("vgg19", "VGG19", "VGG", 2014, _VGG, "depth from stacked 3x3 convolutions",
             224, "caffe", 0.713, "vgg19",
             weights=keras_download(_GCS + "vgg19/", f"vgg19{_TF}.h5",
                                    "cbe5617147190e668d6c5d5026f83318", f"vgg19{_TF}_notop.h5",
                                    "253f8cb515780f3b799900260a226db6", "CC-BY-4.0", "vgg19.py")),
        _app("resnet50", "ResNet50", "ResNet", 2015, _RESNET, "residual (skip) connections",
             224, "caffe", 0.749, "resnet50",
             weights=keras_download(_GCS + "resnet/", f"resnet50{_TF}.h5",
                                    "2cb95161c43110f7111970584f804107", f"resnet50{_TF}_notop.h5",
                                    "4d473c1dd8becc155b73f8504c6f6626", _MIT, "resnet.py")),
        _app("resnet101", "ResNet101", "ResNet", 2015, _RESNET, "residual (skip) connections",
             224, "caffe", 0.764, "resnet",
             weights=keras_download(_GCS + "resnet/", f"resnet101{_TF}.h5",
                                    "f1aeb4b969a6efcfb50fad2f0c20cfc5", f"resnet101{_TF}_notop.h5",
                                    "88cf7a10940856eca736dc7b7e228a21", _MIT, "resnet.py")),
        _app("inception_v3", "InceptionV3", "Inception", 2015,
             "Szegedy et al., Rethinking the Inception Architecture (2015)",
             "parallel multi-scale branches, factorised convolutions", 299, "tf", 0.779,
             "inception_v3",
             weights=keras_download(_GCS + "inception_v3/", f"inception_v3{_TF}.h5",
                                    "9a0d58056eeedaa3f26cb7ebd46da564",
                                    f"inception_v3{_TF}_notop.h5",
                                    "bcbd6486424b2319ff4ef7d526e38f63", _APACHE,
                                    "inception_v3.py")),
        _app("xception", "Xception", "Inception", 2016,
             "Chollet, Xception: Deep Learning with Depthwise Separable Convolutions (2016)",
             "Inception taken to the limit: depthwise-separable convolutions", 299, "tf",
             0.790, "xception",
             weights=keras_download(_GCS + "xception/", f"xception{_TF}.h5",
                                    "0a58e3b7378bc2990ea3b43d5981f1f6", f"xception{_TF}_notop.h5",
                                    "b0042744bf5b25fce3cb969f33bebb97", _MIT, "xception.py")),
        _app("densenet121", "DenseNet121", "DenseNet", 2016,
             "Huang et al., Densely Connected Convolutional Networks (2016)",
             "every layer sees all earlier feature maps (concatenation)", 224, "torch", 0.750,
             "densenet",
             weights=keras_download(_GCS + "densenet/", f"densenet121{_TF}.h5",
                                    "9d60b8095a5708f2dcce2bca79d332c7",
                                    f"densenet121{_TF}_notop.h5",
                                    "30ee3e1110167f948a6b9946edeeb738", "BSD-3-Clause",
                                    "densenet.py")),
        _app("mobilenet", "MobileNet", "MobileNet", 2017,
             "Howard et al., MobileNets (2017)", "depthwise-separable convolutions for phones",
             224, "tf", 0.704, "mobilenet",
             weights=keras_download(_GCS + "mobilenet/", "mobilenet_1_0_{size}_tf.h5", None,
                                    "mobilenet_1_0_{size}_tf_no_top.h5", None, _APACHE,
                                    "mobilenet.py", sizes=(128, 160, 192, 224))),
        _app("mobilenet_v2", "MobileNetV2", "MobileNet", 2018,
             "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (2018)",
             "inverted residual blocks with linear bottlenecks", 224, "tf", 0.713,
             "mobilenet_v2",
             weights=keras_download(
                 _GCS + "mobilenet_v2/",
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}.h5", None,
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5", None,
                 _APACHE, "mobilenet_v2.py", sizes=(96, 128, 160, 192, 224))),
        _app("mobilenet_v3_small", "MobileNetV3Small", "MobileNet", 2019, _MNV3,
             "architecture search, squeeze-excite and hard-swish", 224, "builtin", 0.681,
             "mobilenet_v3", source=_MNV3_SRC,
             weights=keras_download(_GCS + "mobilenet_v3/",
                                    "weights_mobilenet_v3_small_224_1.0_float.h5",
                                    "8768d4c2e7dee89b9d02b2d03d65d862",
                                    "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
                                    "d3e8ec802a04aa4fc771ee12a9a9b836", _APACHE,
                                    "mobilenet_v3.py")),
        _app("mobilenet_v3_large", "MobileNetV3Large", "MobileNet", 2019, _MNV3,
             "architecture search, squeeze-excite and hard-swish", 224, "builtin", 0.756,
             "mobilenet_v3", source=_MNV3_SRC,
             weights=keras_download(_GCS + "mobilenet_v3/",
                                    "weights_mobilenet_v3_large_224_1.0_float.h5",
                                    "59e551e166be033d707958cf9e29a6a7",
                                    "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
                                    "07fb09a5933dd0c8eaafa16978110389", _APACHE,
                                    "mobilenet_v3.py")),
        _app("efficientnet_b0", "EfficientNetB0", "EfficientNet", 2019, _EFFNET,
             "compound scaling of depth, width and resolution", 224, "builtin", 0.771,
             "efficientnet",
             weights=keras_download(_EFF, "efficientnetb0.h5", "902e53a9f72be733fc0bcb005b3ebbac",
                                    "efficientnetb0_notop.h5", "50bc09e76180e00e4465e1a485ddc09d",
                                    _APACHE, "efficientnet.py")),
        _app("efficientnet_b4", "EfficientNetB4", "EfficientNet", 2019, _EFFNET,
             "compound scaling of depth, width and resolution", 380, "builtin", 0.829,
             "efficientnet",
             weights=keras_download(_EFF, "efficientnetb4.h5", "18c95ad55216b8f92d7e70b3a046e2fc",
                                    "efficientnetb4_notop.h5", "ebc24e6d6c33eaebbd558eafbeedf1ba",
                                    _APACHE, "efficientnet.py")),
        _app("efficientnet_v2_b0", "EfficientNetV2B0", "EfficientNet", 2021,
             "Tan & Le, EfficientNetV2: Smaller Models and Faster Training (2021)",
             "fused MBConv blocks and progressive learning", 224, "builtin", 0.787,
             "efficientnet_v2",
             weights=keras_download(_GCS + "efficientnet_v2/", "efficientnetv2-b0.h5",
                                    "21ecbf6da12460d5c40bb2f29ceb2188",
                                    "efficientnetv2-b0_notop.h5",
                                    "893217f2bb855e2983157299931e43ff", _APACHE,
                                    "efficientnet_v2.py")),
        _app("convnext_tiny", "ConvNeXtTiny", "ConvNeXt", 2022,
             "Liu et al., A ConvNet for the 2020s (2022)",
             "a ResNet modernised with Transformer design choices", 224, "builtin", 0.813,
             "convnext",
             weights=keras_download(
                 _GCS + "convnext/", "convnext_tiny.h5",
                 "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                 "convnext_tiny_notop.h5",
                 "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1", _MIT,
                 "convnext.py")),
        Backbone("efficientnet_lite0", "EfficientNetLite0", "EfficientNet", 2020,
                 "Liu, Higher accuracy on vision models with EfficientNet-Lite (TF blog, 2020)",
                 "EfficientNet without squeeze-excite and swish, for mobile accelerators",
                 224, "lite", 0.751,
                 "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
                 "course_utils.models.lite0", LITE0),
        Backbone("mobilenet_v2_torch", "MobileNetV2Torch", "MobileNet", 2018,
                 "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (2018)",
                 "inverted residual blocks with linear bottlenecks (torchvision's training)",
                 224, "torch", 0.71878,
                 "https://docs.pytorch.org/vision/stable/models/generated/"
                 "torchvision.models.mobilenet_v2.html",
                 "course_utils.models.mobilenet_v2_torch", MOBILENET_V2_TORCH),
    )
}


def names() -> list[str]:
    """Return the registry keys in the order of the table."""
    return list(BACKBONES)


def get(name: str) -> Backbone:
    """Return the registry entry for ``name``.

    Raises:
        course_utils.errors.UsageError: (a ``ValueError``) for an unknown name; the message lists
            the known ones.
    """
    key = name.strip().lower().replace("-", "_")
    if key not in BACKBONES:
        raise UsageError(f"unknown backbone {name!r}: choose one of {', '.join(BACKBONES)}")
    return BACKBONES[key]


def preprocess(name: str, images: Any) -> Any:
    """Apply backbone ``name``'s own preprocessing to RGB images in 0..255."""
    return get(name).preprocess_input(images)


def build(
    name: str,
    weights: str | None = "imagenet",
    include_top: bool = True,
    input_shape: tuple[int, int, int] | None = None,
    **kwargs: Any,
) -> Any:
    """Build a registry backbone, with ImageNet weights resolved offline-safely.

    Args:
        name: registry key (see :func:`names`).
        weights: ``"imagenet"`` (through :func:`course_utils.weights.resolve`), ``None`` for
            random initialisation, or a path to a weights file.
        include_top: keep the 1000-class ImageNet classifier.
        input_shape: ``(height, width, 3)``; defaults to the entry's input size.
        **kwargs: passed to the constructor (``pooling``, ``classes`` ...).

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: unknown name or weights value.
        course_utils.errors.OfflineError: ImageNet weights are needed and cannot be fetched.
    """
    entry = get(name)
    if input_shape is None:
        input_shape = (entry.input_size, entry.input_size, 3)
    if weights == "imagenet":
        from ..weights.resolver import resolve_source

        weights = str(resolve_source(entry.name, entry.constructor, entry.weights, include_top,
                                     input_shape[0]))
    elif weights is not None and not isinstance(weights, str):
        raise ValueError("weights must be 'imagenet', None or a path to a weights file")
    return entry.constructor(
        weights=weights, include_top=include_top, input_shape=input_shape, **kwargs
    )


def for_profile(
    profile: Any,
    include_top: bool = False,
    pooling: str | None = "avg",
    input_shape: tuple[int, int, int] | None = None,
) -> tuple[Backbone, Any]:
    """Build the profile's backbone, falling back to EfficientNet-Lite0 when offline.

    With ``profile.weights == "imagenet"`` the profile's backbone gets its ImageNet weights; if
    they cannot be had (:class:`~course_utils.errors.OfflineError`), one line says so and
    ``efficientnet_lite0`` (weights from an installed package) is used instead. With
    ``profile.weights == "offline"`` it is ``efficientnet_lite0`` directly.

    Args:
        profile: a :class:`course_utils.env.Profile`.
        include_top: keep the ImageNet classifier.
        pooling: ``None``, ``"avg"`` or ``"max"`` (only without the top).
        input_shape: ``(height, width, 3)``; default ``(profile.image_size,) * 2 + (3,)``.

    Returns:
        ``(registry entry, keras.Model)``: use ``entry.preprocess_input`` on 0..255 images.

    Raises:
        ValueError: unknown backbone in the profile.
    """
    from ..errors import OfflineError

    if input_shape is None:
        input_shape = (profile.image_size, profile.image_size, 3)
    kwargs = {} if include_top else {"pooling": pooling}
    name = profile.backbone if profile.weights == "imagenet" else "efficientnet_lite0"
    entry = get(name)
    try:
        model = build(entry.name, "imagenet", include_top, input_shape, **kwargs)
    except OfflineError:
        if entry.name == "efficientnet_lite0":
            raise
        print(f"note: {entry.name} ImageNet weights are not available offline; "
              "using efficientnet_lite0 instead")
        entry = get("efficientnet_lite0")
        model = build(entry.name, "imagenet", include_top, input_shape, **kwargs)
    return entry, model
