"""Write small PyTorch ``.pth`` files by hand (PyTorch is not installed), for the reader's tests.

Both layouts of ``torch.save`` are produced with the same pickled object: an ``OrderedDict`` of
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` calls
whose storages are pickle persistent ids, as PyTorch writes them.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from course_utils.weights.torch_pickle import LEGACY_MAGIC

_STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}
SYS_INFO = {"protocol_version": 1001, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}


class _Global:
    """A reference to ``module.name``, written as pickle's GLOBAL opcode (no import needed)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce wants a callable
        raise NotImplementedError


class _StorageRef:
    def __init__(self, key: str, array: np.ndarray, legacy: bool) -> None:
        self.key, self.array, self.legacy = key, array, legacy

    def pid(self) -> tuple:
        kind = _Global("torch", _STORAGE_NAMES[self.array.dtype])
        pid = ("storage", kind, self.key, "cpu", self.array.size)
        return pid + (None,) if self.legacy else pid


class _Tensor:
    def __init__(self, storage: _StorageRef, shape: tuple[int, ...]) -> None:
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        stride = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
        return (_Global("torch._utils", "_rebuild_tensor_v2"),
                (self.storage, 0, self.shape, stride, False, collections.OrderedDict()))


class _Pickler(pickle._Pickler):  # the pure-Python pickler lets save() be overridden
    def persistent_id(self, obj):
        return obj.pid() if isinstance(obj, _StorageRef) else None

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
            return
        super().save(obj, save_persistent_id)


def _state_pickle(state: dict[str, np.ndarray], legacy: bool) -> tuple[bytes, list[_StorageRef]]:
    storages = [_StorageRef(str(i), np.ascontiguousarray(a).reshape(-1), legacy)
                for i, a in enumerate(state.values())]
    tensors = collections.OrderedDict(
        (name, _Tensor(ref, tuple(array.shape)))
        for (name, array), ref in zip(state.items(), storages, strict=True))
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(tensors)
    return buffer.getvalue(), storages


def write_legacy(path: Path, state: dict[str, np.ndarray],
                 replace: dict[int, bytes] | None = None) -> Path:
    """Write ``state`` in the legacy layout; ``replace`` swaps pickle number i (0-4) for bytes."""
    body, storages = _state_pickle(state, legacy=True)
    pickles = [pickle.dumps(LEGACY_MAGIC, protocol=2), pickle.dumps(1001, protocol=2),
               pickle.dumps(SYS_INFO, protocol=2), body,
               pickle.dumps([ref.key for ref in storages], protocol=2)]
    for index, data in (replace or {}).items():
        pickles[index] = data
    with open(path, "wb") as f:
        f.write(b"".join(pickles))
        for ref in storages:
            f.write(struct.pack("<q", ref.array.size))
            f.write(ref.array.astype(ref.array.dtype.newbyteorder("<")).tobytes())
    return path


def write_zip(path: Path, state: dict[str, np.ndarray], data_pkl: bytes | None = None) -> Path:
    """Write ``state`` in the zip layout (``archive/data.pkl`` + ``archive/data/<key>``)."""
    body, storages = _state_pickle(state, legacy=False)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", body if data_pkl is None else data_pkl)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for ref in storages:
            archive.writestr(f"archive/data/{ref.key}", ref.array.tobytes())
    return path
