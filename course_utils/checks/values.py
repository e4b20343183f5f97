"""Value checks for exercise test cells: types, numbers, plain data and arrays (NumPy only).

Answers are type-checked before they are compared, and comparisons use plain Python floats or
NumPy arrays the check made itself, never ``==`` on the student's object: an object whose
``__eq__`` always says True earns nothing. Every check raises :class:`AssertionError` with a
message that names the pitfall and returns None (see :mod:`course_utils.checks`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["expect_type", "expect_number", "expect_equal", "expect_array", "expect_allclose"]

_PLAIN = (str, bytes, bool, int, float, complex, type(None))


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _integral(value: Any) -> bool:
    """True for an integral number (Python int, NumPy integer), not for a bool.

    Only these two concrete kinds: a class merely registered with ``numbers.Integral`` could
    make ``int(value)`` say anything.
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _plain_int(value: int | np.integer) -> int:
    """The value of an integral number as a plain int, ignoring any ``__int__`` a subclass has."""
    return int.__int__(value) if isinstance(value, int) else int.__int__(np.generic.item(value))


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def expect_type(value: Any, types: type | tuple[type, ...], name: str = "answer") -> None:
    """Check ``isinstance(value, types)``.

    ``int`` stands for any integral number, as an exercise means by "an int": a Python int or a
    NumPy integer (``np.prod`` returns ``numpy.int64``) passes, a bool does not unless ``bool``
    is asked for too.

    Raises:
        AssertionError: naming the expected and the actual type.
    """
    wanted = types if isinstance(types, tuple) else (types,)
    if int in wanted and not any(t in wanted for t in (bool, np.bool_)):
        ok = _integral(value) or isinstance(value, tuple(t for t in wanted if t is not int))
    else:
        ok = isinstance(value, wanted)
    if not ok:
        names = " or ".join(t.__name__ for t in wanted)
        hint = " (did you forget to return it, or leave `raise NotImplementedError()`?)" \
            if value is None else ""
        if int in wanted and hasattr(value, "numpy") and not isinstance(value, np.generic):
            hint = ": a tensor, convert it with int(...)"
        elif int in wanted and isinstance(value, (float, np.floating)):
            hint = ": count with integer arithmetic (// not /), or convert with int(...)"
        raise AssertionError(f"{name} should be {_a(names)}, got {_type_name(value)}{hint}")


def expect_number(value: Any, expected: float | None = None, tol: float = 1e-6,
                  low: float | None = None, high: float | None = None,
                  name: str = "answer", rel_tol: float = 0.0) -> None:
    """Check a real number (int, float or NumPy scalar; not bool), optionally its value or range.

    Args:
        value: the student's answer.
        expected: the value it should have (compared with ``math.isclose``).
        tol: absolute tolerance for ``expected``.
        low, high: inclusive bounds.
        name: what the answer is called in messages.
        rel_tol: relative tolerance for ``expected``.

    Raises:
        AssertionError: wrong type (a tensor, an array, a string ...), NaN, or out of range.
    """
    if hasattr(value, "numpy") and not isinstance(value, np.generic):
        raise AssertionError(f"{name} is a tensor ({_type_name(value)}): convert it with "
                             "float(...) before returning")
    if isinstance(value, np.ndarray):
        raise AssertionError(f"{name} is an array of shape {value.shape}, expected one number: "
                             "use float(...) or .item()")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        expect_type(value, (int, float), name)  # raises with the type names
        raise AssertionError(f"{name} should be a number, got {_type_name(value)}")
    number = float(value)  # a plain float: no user-defined comparison from here on
    if type(number) is not float or not math.isfinite(number):
        raise AssertionError(f"{name} is not a finite number ({number!r})")
    if expected is not None and not math.isclose(number, float(expected), abs_tol=tol,
                                                  rel_tol=rel_tol):
        raise AssertionError(f"{name} is {number:.6g}, expected {float(expected):.6g}")
    if low is not None and number < low:
        raise AssertionError(f"{name} is {number:.6g}, expected at least {low:.6g}")
    if high is not None and number > high:
        raise AssertionError(f"{name} is {number:.6g}, expected at most {high:.6g}")


def expect_equal(value: Any, expected: Any, name: str = "answer") -> None:
    """Check equality of plain Python data (str, int, float, tuple, list, dict, None).

    Types must match exactly at every level (a subclass with a rigged ``__eq__`` is refused),
    except for numbers: where an int is expected any integral number passes (a NumPy integer
    too, compared as a plain int; a float or a bool does not), and where a float is expected
    any real number passes, compared with ``math.isclose(rel_tol=1e-9)``.

    Raises:
        AssertionError: saying where the first difference is.
    """
    if _integral(expected):
        expect_type(value, int, name)  # any integral number, not a float or a bool
        number = _plain_int(value)  # a plain int: no user-defined comparison from here on
        if number != _plain_int(expected):
            raise AssertionError(f"{name} is {number!r}, expected {_plain_int(expected)!r}")
        return
    if type(value) is not type(expected):
        if isinstance(expected, float):
            expect_number(value, expected, name=name, rel_tol=1e-9)
            return
        raise AssertionError(f"{name} should be a {type(expected).__name__}, "
                             f"got {_type_name(value)}")
    if isinstance(expected, (list, tuple)):
        if len(value) != len(expected):
            raise AssertionError(f"{name} has {len(value)} items, expected {len(expected)}")
        for index, (item, want) in enumerate(zip(value, expected, strict=True)):
            expect_equal(item, want, f"{name}[{index}]")
    elif isinstance(expected, dict):
        if sorted(map(repr, value)) != sorted(map(repr, expected)):
            raise AssertionError(f"{name} has keys {sorted(map(repr, value))}, expected "
                                 f"{sorted(map(repr, expected))}")
        for key in expected:
            expect_equal(value[key], expected[key], f"{name}[{key!r}]")
    elif isinstance(expected, float):
        expect_number(value, expected, name=name, rel_tol=1e-9)
    elif not isinstance(expected, _PLAIN):
        raise TypeError(f"expect_equal compares plain Python data, not {_type_name(expected)}")
    elif expected != value:  # both exactly the same builtin type
        raise AssertionError(f"{name} is {value!r}, expected {expected!r}")


def expect_array(value: Any, shape: tuple[int | None, ...] | None = None,
                 dtype_kind: str | None = None, name: str = "answer") -> None:
    """Check a NumPy array's shape (None entries match any size) and dtype kind.

    Args:
        dtype_kind: allowed ``dtype.kind`` letters, e.g. ``"f"`` (float), ``"iu"`` (integers).

    Raises:
        AssertionError: not an array (a tensor or a list), wrong shape or dtype.
    """
    if not isinstance(value, np.ndarray):
        hint = " (a tensor: call .numpy())" if hasattr(value, "numpy") else ""
        raise AssertionError(f"{name} should be a NumPy array, got {_type_name(value)}{hint}")
    array = np.array(value, copy=True).view(np.ndarray)
    if shape is not None:
        matches = len(array.shape) == len(shape) and all(
            want is None or want == got for want, got in zip(shape, array.shape, strict=True))
        if not matches:
            wanted = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise AssertionError(f"{name} has shape {array.shape}, expected {wanted}")
    if dtype_kind is not None and array.dtype.kind not in dtype_kind:
        raise AssertionError(f"{name} has dtype {array.dtype}, expected kind {dtype_kind!r}")


def expect_allclose(value: Any, expected: Any, atol: float = 1e-5, rtol: float = 1e-5,
                    name: str = "answer") -> None:
    """Check an array equals ``expected`` within tolerances (after :func:`expect_array`)."""
    want = np.asarray(expected)
    expect_array(value, shape=want.shape, name=name)
    got = np.array(value, copy=True).view(np.ndarray)
    if not np.allclose(got.astype(float), want.astype(float), atol=atol, rtol=rtol):
        worst = float(np.max(np.abs(got.astype(float) - want.astype(float))))
        raise AssertionError(f"{name} differs from the expected values (largest difference "
                             f"{worst:.3g})")
