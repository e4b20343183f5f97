"""Values as data: what crosses between a student's kernel and the judge (:mod:`.replay`).

:func:`encode` turns a value into JSON plus NumPy arrays, :func:`decode` turns them back, and
:func:`digest` names a value by its content. Plain Python values (``None``, ``bool``, ``int``,
``float``, ``str``, lists, tuples, dicts, sets), NumPy arrays (never of objects) and NumPy
scalars keep their types; a subclass of a built-in type arrives as the built-in type (a float
that lies about equality is a float again); a tensor arrives as the array it holds; anything
else arrives as an :class:`Unreadable` that names its type. Arrays are stored with
``numpy.save``'s format and loaded with ``allow_pickle=False``: decoding never runs code.

Functions cross in one direction only, from the grader to the kernel: the grader's
:func:`encode` may be given ``refer``, which names a function (or an object a notebook variable
holds) as a reference the kernel resolves (``{"$global": name}``, ``{"$import":
"module:name"}``); a ``functools.partial`` of one crosses as ``{"$partial": [function, args,
kwargs]}``. Only the kernel's :func:`decode` is given ``resolve``; the judge's refuses any
reference, so nothing a kernel writes names code for the judge to run.

A Keras model is not data: :mod:`.replay` saves the models an answer returns or changes as
``.keras`` files beside these, and passes models *to* a student's function by reference. A
callback of one of Keras's own classes in :data:`CALLBACKS` crosses as its class's name, its
constructor's arguments (read from the attributes of the same names) and what it recorded
(:data:`RECORDED`: a ``History``'s epochs and logs), and is built again from them; any other
callback arrives as an error saying so (its code would have to run).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import sys
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Unreadable", "encode", "decode", "digest", "save", "load", "is_keras_model",
           "config_classes"]

DEPTH = 20  # nesting deeper than this is unreadable
ITEMS = 100_000  # elements of one container
# keras.callbacks classes that act on the model only (no files, no network, no functions)
CALLBACKS = ("EarlyStopping", "ReduceLROnPlateau", "TerminateOnNaN", "History")
RECORDED = {"History": ("history", "epoch", "params")}  # attributes set again after building
REFERENCES = ("$global", "$import", "$partial")  # tags the kernel resolves; the judge refuses


class Unreadable:
    """A value the grader could not read (an object of a class it does not know)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind} object>"


def is_keras_model(value: Any) -> bool:
    """Whether ``value`` is a Keras layer or model (without importing Keras)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(value, keras.layers.Layer)


def _array(value: np.ndarray, arrays: list[np.ndarray]) -> dict:
    """``value`` stored once in ``arrays``: an array with the same bytes is shared (a test may
    pass one batch of photos to many functions); decoding gives each place its own copy."""
    if value.dtype.hasobject:
        return {"$unreadable": "numpy array of objects"}
    copy = np.array(value, order="C")  # 0-d stays 0-d
    raw = copy.reshape(-1).view(np.uint8)
    for index, kept in enumerate(arrays):
        if kept.dtype == copy.dtype and kept.shape == copy.shape \
                and np.array_equal(kept.reshape(-1).view(np.uint8), raw):
            return {"$array": index}
    arrays.append(copy)
    return {"$array": len(arrays) - 1}


def encode(value: Any, arrays: list[np.ndarray], depth: int = 0,
           refer: Callable[[Any], dict | None] | None = None) -> Any:
    """``value`` as JSON-ready data, its arrays appended to ``arrays`` (see the docstring).

    ``refer`` (the grader's only) gives a reference for a value that is not data, or None.
    """
    if depth > DEPTH:
        return {"$unreadable": "value nested too deeply"}
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, np.generic):
        return {"$scalar": _array(np.asarray(value), arrays)["$array"]} \
            if not value.dtype.hasobject else {"$unreadable": type(value).__name__}
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, np.ndarray):
        return _array(np.asarray(value), arrays)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        if len(value) > ITEMS:
            return {"$unreadable": f"{type(value).__name__} of {len(value)} items"}
        if isinstance(value, dict):
            return {"$dict": [[encode(k, arrays, depth + 1, refer),
                               encode(v, arrays, depth + 1, refer)]
                              for k, v in dict.items(value)]}
        items = [encode(item, arrays, depth + 1, refer) for item in value]
        if isinstance(value, list):
            return items
        return {"$tuple" if isinstance(value, tuple) else "$set": items}
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(value, keras.callbacks.Callback):
        return _callback(value, keras, arrays, depth)
    if hasattr(value, "__array__") and type(value).__module__.split(".")[0] in (
            "tensorflow", "keras", "jax", "torch"):
        try:
            return _array(np.asarray(value), arrays)
        except Exception:  # noqa: BLE001 (any failure: the value is unreadable, reported)
            pass
    if refer is not None:
        if isinstance(value, functools.partial):
            return {"$partial": [encode(part, arrays, depth + 1, refer)
                                 for part in (value.func, value.args, value.keywords)]}
        reference = refer(value)
        if reference is not None:
            return reference
    return {"$unreadable": f"{type(value).__module__}.{type(value).__qualname__}"}


def _callback(value: Any, keras: Any, arrays: list[np.ndarray], depth: int) -> dict:
    """A callback as ``{"$callback": [class name, {argument: value} or None, {attribute:
    value}]}``: None for a class the grader does not build."""
    import inspect

    kind = type(value)
    if kind.__name__ not in CALLBACKS or getattr(keras.callbacks, kind.__name__) is not kind:
        return {"$callback": [f"{kind.__module__}.{kind.__qualname__}", None, {}]}
    arguments = {}
    for name, parameter in inspect.signature(kind).parameters.items():
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            default = None if parameter.default is parameter.empty else parameter.default
            arguments[name] = encode(getattr(value, name, default), arrays, depth + 1)
    recorded = {name: encode(getattr(value, name), arrays, depth + 1)
                for name in RECORDED.get(kind.__name__, ()) if hasattr(value, name)}
    return {"$callback": [kind.__name__, arguments, recorded]}


def _build_callback(name: str, arguments: dict | None, recorded: dict,
                    arrays: list[np.ndarray]) -> Any:
    if arguments is None or name not in CALLBACKS:
        raise ValueError(
            f"the grader got a {name} callback; it builds callbacks again from Keras's own "
            f"classes only, without running code of yours: return a keras.callbacks."
            f"{', '.join(CALLBACKS[:-1])} or {CALLBACKS[-1]}")
    import keras

    try:
        callback = getattr(keras.callbacks, name)(**{str(key): decode(value, arrays)
                                                     for key, value in arguments.items()})
    except Exception as exc:  # noqa: BLE001 (arguments Keras refuses)
        raise ValueError(f"the grader cannot build keras.callbacks.{name} again from its "
                         f"arguments: {exc}") from None
    for key in RECORDED.get(name, ()):
        if key in recorded:
            setattr(callback, key, decode(recorded[key], arrays))
    return callback


def decode(data: Any, arrays: list[np.ndarray],
           resolve: Callable[[dict], Any] | None = None) -> Any:
    """The value :func:`encode` made ``data`` from (arrays are copies).

    ``resolve`` (the kernel's only) gives the object a ``$global`` or ``$import`` reference
    names; without it a reference is refused.

    Raises:
        ValueError: ``data`` names a callback the grader does not build, a reference where
            there is no ``resolve``, or a tag it does not know.
    """
    if isinstance(data, list):
        return [decode(item, arrays, resolve) for item in data]
    if not isinstance(data, dict):
        return data
    (tag, inner), = data.items()
    if tag == "$array":
        return np.array(arrays[inner])
    if tag == "$scalar":
        return arrays[inner][()]
    if tag == "$float":
        return float(inner)
    if tag == "$tuple":
        return tuple(decode(item, arrays, resolve) for item in inner)
    if tag == "$set":
        return {decode(item, arrays, resolve) for item in inner}
    if tag == "$dict":
        return {decode(k, arrays, resolve): decode(v, arrays, resolve) for k, v in inner}
    if tag == "$unreadable":
        return Unreadable(str(inner))
    if tag == "$callback":
        return _build_callback(str(inner[0]), inner[1], inner[2], arrays)
    if tag in REFERENCES:
        if resolve is None:
            raise ValueError(f"the grader reads values only, and got a reference ({tag})")
        if tag == "$partial":
            function, args, kwargs = (decode(part, arrays, resolve) for part in inner)
            return functools.partial(function, *args, **kwargs)
        return resolve(data)
    raise ValueError(f"unknown value tag {tag!r}")


def digest(data: Any, arrays: list[np.ndarray]) -> str:
    """A name for encoded ``data``: equal for equal values (arrays by dtype, shape and bytes)."""
    hasher = hashlib.sha256(json.dumps(data, sort_keys=True).encode())
    for array in arrays:
        hasher.update(f"{array.dtype.str}{array.shape}".encode() + array.tobytes())
    return hasher.hexdigest()[:24]


def save(stem, records: list[tuple[Any, list[np.ndarray]]]) -> None:
    """Write encoded records (data, arrays) as ``stem.json`` and ``stem.npz`` (no pickles)."""
    named = {f"r{n}_{i}": array for n, (_, arrays) in enumerate(records)
             for i, array in enumerate(arrays)}
    counts = [len(arrays) for _, arrays in records]
    buffer = io.BytesIO()
    np.savez(buffer, **named)
    with open(f"{stem}.npz", "wb") as handle:
        handle.write(buffer.getvalue())
    with open(f"{stem}.json", "w", encoding="utf-8") as handle:
        json.dump({"records": [data for data, _ in records], "arrays": counts}, handle)


def load(stem, limit: int = 256 * 2**20) -> list[tuple[Any, list[np.ndarray]]]:
    """Read what :func:`save` wrote, refusing files over ``limit`` bytes; never runs code.

    Raises:
        OSError: a file is missing.
        ValueError: a file is too large or not what :func:`save` writes.
    """
    import os

    for path in (f"{stem}.json", f"{stem}.npz"):
        if os.path.getsize(path) > limit:
            raise ValueError(f"{os.path.basename(path)} is larger than {limit} bytes")
    with open(f"{stem}.json", encoding="utf-8") as handle:
        stored = json.load(handle)
    try:
        with np.load(f"{stem}.npz", allow_pickle=False) as arrays:
            return [(data, [arrays[f"r{n}_{i}"] for i in range(count)])
                    for n, (data, count) in enumerate(zip(stored["records"], stored["arrays"],
                                                          strict=True))]
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{os.path.basename(str(stem))} is not a file of recorded values: "
                         f"{exc}") from None


def config_classes(node: Any) -> list[tuple[str, str]]:
    """Every (module, class_name) a Keras config names, nested ones included."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str):
            found.append((str(node.get("module") or ""), node["class_name"]))
        for value in node.values():
            found += config_classes(value)
    elif isinstance(node, list):
        for value in node:
            found += config_classes(value)
    return found
