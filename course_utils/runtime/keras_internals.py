"""The one module that reads private Keras attributes; every read fails closed.

Public Keras API does not expose three things the course needs: the layer calls recorded in a
functional model's graph (which layer is called on which tensors, with which keyword arguments),
the trainable flags ``Model.compile`` records (Keras 3.15 and later), and the variables a built
optimizer updates. Each is read here by a *probe* that raises :class:`UnsupportedKerasError`,
naming the Keras version, when the private name it needs is missing. A Keras upgrade that renames
one therefore makes an exercise check fail loudly instead of passing every answer.

The private names are module constants, so a test can simulate a Keras that renamed one.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from ..errors import UnsupportedKerasError

__all__ = [
    "UnsupportedKerasError",
    "LayerCall",
    "keras_version",
    "functional_class",
    "layer_calls",
    "compiled_trainable_flags",
    "optimizer_variables",
    "FIRST_RECORDING_VERSION",
]

# The private names, in one place (see the module docstring).
FUNCTIONAL = ("keras.src.models.functional", "Functional")
NODES_BY_DEPTH = "_nodes_by_depth"
NODE_OPERATION, NODE_ARGUMENTS, NODE_INPUTS, NODE_OUTPUTS = (
    "operation", "arguments", "input_tensors", "output_tensors")
COMPILED_TRAINABLE_STATE = "_compiled_trainable_state"
OPTIMIZER_VARIABLES = "_trainable_variables"
# Model.compile records the trainable flags from this version on (keras/src/trainers/trainer.py);
# 3.13 and 3.14 record nothing and decide the trained variables at the first fit after compile.
FIRST_RECORDING_VERSION = (3, 15)


@dataclasses.dataclass(frozen=True)
class LayerCall:
    """One call of a layer recorded in a functional model's graph.

    Attributes:
        operation: the layer (or operation) that was called.
        inputs: the symbolic tensors it was called on.
        outputs: the symbolic tensors it returned.
        kwargs: the keyword arguments of the call (``{"training": False}``, for instance).
    """

    operation: Any
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    kwargs: dict[str, Any]


def keras_version() -> str:
    """Return the installed Keras version string (``"3.15.1"``)."""
    import keras

    return str(keras.__version__)


def _version_tuple() -> tuple[int, ...]:
    parts = []
    for part in keras_version().split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _unsupported(what: str, missing: str) -> UnsupportedKerasError:
    return UnsupportedKerasError(
        f"cannot read {what}: Keras {keras_version()} is not supported by this check "
        f"({missing} is missing); use the Keras version of the course's constraints.txt "
        "or report it to the course maintainers")


def _read(obj: Any, name: str, what: str) -> Any:
    """``getattr(obj, name)``, or :class:`UnsupportedKerasError` naming what could not be read."""
    try:
        return getattr(obj, name)
    except AttributeError:
        raise _unsupported(what, f"{type(obj).__name__}.{name}") from None


def functional_class() -> type:
    """Return Keras's class of functional models (what ``keras.Model(inputs, outputs)`` builds).

    Returns:
        The class, for ``isinstance`` checks.

    Raises:
        UnsupportedKerasError: this Keras has no such class where the course looks for it.
    """
    module_name, class_name = FUNCTIONAL
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise _unsupported("the functional model class", module_name) from None
    return _read(module, class_name, "the functional model class")


def layer_calls(model: Any) -> list[LayerCall]:
    """Return every layer call recorded in a functional model's own graph.

    Nested models appear as one call each; their insides are not listed.

    Args:
        model: a functional ``keras.Model`` (check with :func:`functional_class` first).

    Returns:
        One :class:`LayerCall` per node of the graph, input layers included.

    Raises:
        UnsupportedKerasError: this Keras stores the graph under other names.
    """
    what = "the layer calls of a functional model"
    by_depth = _read(model, NODES_BY_DEPTH, what)
    calls = []
    for nodes in by_depth.values():
        for node in nodes:
            arguments = _read(node, NODE_ARGUMENTS, what)
            calls.append(LayerCall(
                operation=_read(node, NODE_OPERATION, what),
                inputs=tuple(_read(node, NODE_INPUTS, what)),
                outputs=tuple(_read(node, NODE_OUTPUTS, what)),
                kwargs=dict(_read(arguments, "kwargs", what)),
            ))
    return calls


def compiled_trainable_flags(model: Any) -> dict[Any, bool] | None:
    """Return the ``{layer: trainable}`` flags ``model.compile`` recorded.

    Args:
        model: a compiled ``keras.Model``.

    Returns:
        The recorded flags, or None on a Keras older than :data:`FIRST_RECORDING_VERSION`, which
        records none (it decides the trained variables at the first ``fit`` after ``compile``).

    Raises:
        UnsupportedKerasError: a Keras that should record the flags does not have them where the
            course looks.
    """
    what = "the trainable flags recorded at compile time"
    try:
        state = getattr(model, COMPILED_TRAINABLE_STATE)
    except AttributeError:
        if _version_tuple() < FIRST_RECORDING_VERSION:
            return None
        raise _unsupported(what, f"{type(model).__name__}.{COMPILED_TRAINABLE_STATE}") from None
    if not isinstance(state, dict):
        raise _unsupported(what, f"a dict in {type(model).__name__}.{COMPILED_TRAINABLE_STATE}")
    return {layer: bool(flag) for layer, flag in state.items()}


def optimizer_variables(optimizer: Any) -> list[Any]:
    """Return the model variables a built optimizer updates.

    Args:
        optimizer: a ``keras.optimizers.Optimizer`` whose ``built`` is True.

    Returns:
        The variables, in the optimizer's order.

    Raises:
        UnsupportedKerasError: this Keras keeps them under another name.
    """
    return list(_read(optimizer, OPTIMIZER_VARIABLES, "the variables the optimizer updates"))
