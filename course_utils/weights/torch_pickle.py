"""Read a PyTorch ``state_dict`` file into NumPy arrays, without PyTorch.

A ``.pth`` file is a Python pickle whose tensors point at raw storages through pickle's
*persistent ids*. Two layouts exist and both are read here:

* **legacy** (``torch.save(..., _use_new_zipfile_serialization=False)``, everything before
  PyTorch 1.6): five pickles in a row (magic number, protocol version, system info, the object,
  the list of storage keys) followed by each storage as an 8-byte little-endian element count
  and its raw bytes;
* **zip** (PyTorch 1.6 and later): a zip archive holding ``<name>/data.pkl`` and one file
  ``<name>/data/<key>`` of raw bytes per storage.

Every pickle in either layout goes through a restricted unpickler. The object pickle may name
only the few globals a ``state_dict`` needs (``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2``/``_rebuild_parameter`` and the storage types); the legacy
layout's other four pickles (magic number, protocol, system info, storage keys) may name none.
Anything else raises :class:`~course_utils.errors.WeightsError` before it is called, so a
malicious file cannot run code. Both layouts are tested with files built by hand
(``tests/test_lite0.py``), since PyTorch is not installed.
"""

from __future__ import annotations

import collections
import hashlib
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..atomic import atomic_path
from ..errors import WeightsError

__all__ = ["load_state_dict", "convert_once", "STORAGE_DTYPES", "LEGACY_MAGIC"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _Storage:
    """A storage named in the pickle; its bytes are read after the pickle itself."""

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _TensorRef:
    """What ``_rebuild_tensor_v2`` returns while the storages are still unread."""

    def __init__(self, storage: Any, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialise(self) -> np.ndarray:
        storage = self.storage
        view_offset = 0
        if isinstance(storage, tuple):  # legacy view: (base storage, offset, size)
            storage, view_offset, _ = storage
        flat = storage.data
        if flat is None:
            raise WeightsError(f"storage {storage.key} is missing from the file")
        item = flat.dtype.itemsize
        if min((view_offset, self.offset, *self.size, *self.stride), default=0) < 0:
            raise WeightsError("a tensor has a negative size, stride or offset: the file is corrupt")
        empty = any(n == 0 for n in self.size)
        last = sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if not empty and view_offset + self.offset + last >= flat.size:
            raise WeightsError("a tensor points past the end of its storage: the file is corrupt")
        base = flat[view_offset + self.offset:]
        view = np.lib.stride_tricks.as_strided(
            base, shape=self.size, strides=tuple(s * item for s in self.stride), writeable=False
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


class _DataUnpickler(pickle.Unpickler):
    """Reads a pickle of plain data only (ints, strings, lists, dicts): it may name no global."""

    def find_class(self, module: str, name: str) -> Any:
        raise WeightsError(f"unexpected object {module}.{name} in a weights file header: not a "
                           "PyTorch file, refusing to load it")

    def persistent_load(self, pid: Any) -> Any:
        raise WeightsError("unexpected storage reference in a weights file header: not a "
                           "PyTorch file, refusing to load it")


class _Unpickler(pickle.Unpickler):
    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise WeightsError(f"unexpected object {module}.{name} in a weights file: not a "
                           "plain PyTorch state_dict, refusing to load it")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise WeightsError(f"unsupported persistent id {pid!r} in a PyTorch file")
        storage_type, key, _location, numel = pid[1:5]
        if storage_type not in STORAGE_DTYPES:
            raise WeightsError(f"unsupported storage type {storage_type!r} in a PyTorch file")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _Storage(key, STORAGE_DTYPES[storage_type], int(numel))
        storage = self.storages[key]
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # (view_key, offset, view_size)
            return (storage, int(view[1]), int(view[2]))
        return storage


def _materialise(obj: Any) -> Any:
    if isinstance(obj, _TensorRef):
        return obj.materialise()
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    return obj


def _header(f: BinaryIO, kind: type, what: str) -> Any:
    value = _DataUnpickler(f).load()
    if not isinstance(value, kind) or isinstance(value, bool):
        raise WeightsError(f"not a PyTorch file ({what} is a {type(value).__name__})")
    return value


def _read_legacy(f: BinaryIO) -> Any:
    if _header(f, int, "the magic number") != LEGACY_MAGIC:
        raise WeightsError("not a PyTorch file (wrong magic number)")
    protocol = _header(f, int, "the protocol version")
    if protocol != 1001:
        raise WeightsError(f"unsupported PyTorch file protocol {protocol}")
    sys_info = _header(f, dict, "the system information")
    if not sys_info.get("little_endian", True):
        raise WeightsError("big-endian PyTorch files are not supported")
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(f, storages).load()
    keys = _header(f, list, "the list of storages")
    for key in keys:
        storage = storages[str(key)]
        header = f.read(8)
        if len(header) != 8:
            raise WeightsError("the PyTorch file ends early: it is truncated")
        (numel,) = struct.unpack("<q", header)
        if numel < 0:
            raise WeightsError("a storage has a negative size: the file is corrupt")
        nbytes = numel * storage.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise WeightsError("the PyTorch file ends early: it is truncated")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return obj


def _read_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise WeightsError(f"{path} is a zip file without data.pkl: not a PyTorch file")
        prefix = pkl[: -len("data.pkl")]
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() != b"little":
            raise WeightsError("big-endian PyTorch files are not supported")
        storages: dict[str, _Storage] = {}
        with archive.open(pkl) as f:
            obj = _Unpickler(f, storages).load()
        for key, storage in storages.items():
            raw = archive.read(f"{prefix}data/{key}")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)[: storage.numel]
    return obj


def load_state_dict(path: str | Path, expected_sha256: str | None = None) -> dict[str, np.ndarray]:
    """Read a PyTorch ``state_dict`` (legacy or zip ``.pth``) into NumPy arrays.

    Args:
        path: the ``.pth``/``.pt`` file.
        expected_sha256: if given, the file's SHA-256 must match it.

    Returns:
        ``{parameter name: array}`` in the file's order, arrays C-contiguous with PyTorch's shapes.

    Raises:
        FileNotFoundError: the file does not exist.
        course_utils.errors.WeightsError: checksum mismatch, corrupt, truncated or not a plain
            state_dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    if expected_sha256 is not None:
        with open(path, "rb") as f:
            actual = hashlib.file_digest(f, "sha256").hexdigest()
        if actual != expected_sha256:
            raise WeightsError(f"{path} has SHA-256 {actual[:12]}..., expected "
                               f"{expected_sha256[:12]}...: the file is damaged or a different "
                               "version; reinstall the package that ships it")
    try:
        if zipfile.is_zipfile(path):
            obj = _read_zip(path)
        else:
            with open(path, "rb") as f:
                obj = _read_legacy(f)
    except WeightsError:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, struct.error,
            zipfile.BadZipFile) as exc:
        raise WeightsError(f"{path} is not a readable PyTorch file ({exc})") from exc
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state_dict")
    return _materialise(obj)


def convert_once(top: Path, notop: Path, source: Callable[[], Path], sha256: str,
                 build: Callable[[], Any], fill: Callable[[Any, dict], None],
                 backbone_output: str, force: bool = False) -> None:
    """Convert a ``.pth`` file into Keras weights files with and without the classifier, once.

    The one conversion the offline backbones share (EfficientNet-Lite0, MobileNetV2): unless both
    files exist (or ``force``), read the state dict from ``source()`` (checked against
    ``sha256``), ``fill(build(), state)``, and write the model's weights to ``top`` and those of
    the same graph up to layer ``backbone_output`` (same layer names) to ``notop``, each atomically.

    Raises:
        course_utils.errors.WeightsError: the package file is missing, damaged or does not fit.
    """
    if not force and top.is_file() and notop.is_file():
        return
    import keras

    model = build()
    fill(model, load_state_dict(source(), sha256))
    backbone = keras.Model(model.input, model.get_layer(backbone_output).output)
    for variant, path in ((model, top), (backbone, notop)):
        with atomic_path(path, suffix=".weights.h5") as tmp:  # Keras checks the suffix
            variant.save_weights(str(tmp))
