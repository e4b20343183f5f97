"""Small helpers around transfer learning; the lessons still freeze, compile and fit in the open.

- :func:`classifier` puts a new head on a pretrained base (the keras-io transfer-learning recipe).
- :func:`unfreeze_top` opens the top of the base for fine-tuning, keeping BatchNormalization frozen.
- :func:`trainable_params` / :func:`non_trainable_params` count what ``fit`` will change.
- :func:`backup_callback` lets an interrupted ``fit`` (a Colab disconnect) resume where it stopped.
- :func:`two_rate_adam` gives the pretrained body a lower learning rate than the new head, in one
  ``compile`` (Keras 3 has no ``MultiOptimizer``).

Heads end in a softmax, so compile with ``SparseCategoricalCrossentropy()`` (``from_logits=False``,
the default) and integer labels. Changing ``trainable`` only takes effect after ``compile``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..models.layers import batch_norms, non_trainable_params, trainable_params

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "classifier",
    "unfreeze_top",
    "trainable_params",
    "non_trainable_params",
    "backup_callback",
    "two_rate_adam",
]


def _check_head_args(num_classes: int, dropout: float) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")


def classifier(
    base_model: keras.Model,
    num_classes: int,
    preprocess_input: Callable | keras.layers.Layer | None = None,
    dropout: float = 0.2,
    name: str | None = None,
    *,
    image_size: int | tuple[int, int] | None = None,
) -> keras.Model:
    """Input -> preprocess -> base_model(training=False) -> [pooling] -> Dropout -> Dense(softmax).

    ``training=False`` keeps the base's BatchNormalization layers in inference mode even after
    :func:`unfreeze_top`, as the keras-io fine-tuning guide does.

    Args:
        base_model: a pretrained model without its top, e.g. built with ``include_top=False``.
        num_classes: number of classes (>= 2); the output is a softmax over them.
        preprocess_input: the base's preprocessing function (wrapped in a ``Lambda`` layer) or a
            layer such as ``keras.layers.Rescaling``; None when the base preprocesses itself.
        dropout: dropout rate before the last layer.
        name: the model's name.
        image_size: input height and width, needed only when ``base_model`` accepts any size.

    Returns:
        An uncompiled ``keras.Model``. A model with a ``Lambda`` layer does not reload from
        ``.keras`` as it is: a named function is stored by its name only and fails to load with
        or without ``safe_mode=False`` (unless registered with
        ``keras.saving.register_keras_serializable`` or passed in ``custom_objects``); only a
        Python ``lambda`` loads, with ``safe_mode=False``. Save weights instead, or pass a
        ``Rescaling`` layer.

    Raises:
        ValueError: for bad ``num_classes`` / ``dropout``, or an unknown input size.
    """
    _check_head_args(num_classes, dropout)
    shape = tuple(base_model.input_shape[1:])
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        shape = (*size, shape[-1])
    if None in shape:
        raise ValueError(
            f"base_model accepts inputs of shape {shape}; pass image_size=... or build it with "
            "input_shape=(height, width, 3)."
        )
    import keras

    inputs = keras.Input(shape=shape)
    x = inputs
    if preprocess_input is not None:
        if not isinstance(preprocess_input, keras.layers.Layer):
            preprocess_input = keras.layers.Lambda(preprocess_input, name="preprocess")
        x = preprocess_input(x)
    x = base_model(x, training=False)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def unfreeze_top(base_model: keras.Model, n: int) -> int:
    """Make the top ``n`` layers of ``base_model`` trainable and freeze everything else.

    "The top ``n`` layers" means what it means everywhere in the course (lesson 4, its slider,
    exercise 4) and in the keras-io guides: the last ``n`` entries of ``base_model.layers``,
    whatever they are (activations and additions included). BatchNormalization among them stays
    frozen: its statistics come from ImageNet and a small dataset would spoil them. Choose ``n``
    at a block boundary (:func:`course_utils.models.layers.top_block_layers`) so no residual block
    is cut in half. Recompile the model afterwards for the change to take effect.

    Args:
        base_model: the pretrained base (not the whole classifier).
        n: how many layers to open, counted from the output; 0 freezes the whole base.

    Returns:
        The number of trainable parameters of ``base_model`` afterwards.

    Raises:
        TypeError: if ``n`` is not an int.
        ValueError: if ``n`` is negative or larger than the number of layers.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int (how many layers to unfreeze), got {type(n).__name__}")
    layers = base_model.layers
    if not 0 <= n <= len(layers):
        raise ValueError(
            f"n must lie between 0 and {len(layers)} (the layers of {base_model.name!r}), got {n}"
        )
    base_model.trainable = True
    for i, layer in enumerate(layers):
        layer.trainable = i >= len(layers) - n
        for batch_norm in batch_norms(layer):
            batch_norm.trainable = False
    return trainable_params(base_model)


def backup_callback(directory: str | Path) -> keras.callbacks.BackupAndRestore:
    """A ``BackupAndRestore`` callback: ``fit`` saves at each epoch's end and, when run again
    after an interruption, resumes from the last finished epoch; the backup is deleted when
    training completes.

    Args:
        directory: where to keep the backup (outside the repository, e.g. under the cache).

    Returns:
        ``keras.callbacks.BackupAndRestore(directory, save_freq="epoch", double_checkpoint=True)``;
        the second checkpoint survives an interruption in the middle of writing the first.

    Raises:
        TypeError: if ``directory`` is not a str or Path.
    """
    if not isinstance(directory, str | Path):
        raise TypeError(f"directory must be a str or Path, got {type(directory).__name__}")
    import keras

    return keras.callbacks.BackupAndRestore(
        str(directory), save_freq="epoch", double_checkpoint=True, delete_checkpoint=True
    )


@functools.cache
def _two_rate_adam_class() -> type:
    """The Adam subclass behind :func:`two_rate_adam`, defined on first use (Keras imports lazily)."""
    import keras

    class TwoRateAdam(keras.optimizers.Adam):
        """Adam whose update of the variables in ``body_ids`` uses ``learning_rate * body_factor``."""

        def __init__(self, body_ids: frozenset[int], body_factor: float, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.body_ids = body_ids
            self.body_factor = body_factor

        def update_step(self, gradient, variable, learning_rate):  # noqa: ANN001, ANN201
            if id(variable) in self.body_ids:  # a variable of the pretrained body: a smaller step
                learning_rate = learning_rate * self.body_factor
            return super().update_step(gradient, variable, learning_rate)

    return TwoRateAdam


def two_rate_adam(
    body_variables: list,
    learning_rate: float = 1e-3,
    body_learning_rate: float = 1e-5,
    **adam_kwargs: object,
) -> keras.optimizers.Adam:
    """An Adam optimizer with one learning rate for the new head and a lower one for the body.

    Keras 3 has no ``MultiOptimizer``; this is ``keras.optimizers.Adam`` with its public
    ``update_step`` overridden: for a variable of the pretrained body, the learning rate it is
    given is multiplied by ``body_learning_rate / learning_rate`` (Adam's step is about the
    learning rate whatever the gradient's scale, so scaling the gradient instead would do
    nothing). Every other trainable variable (the head) gets ``learning_rate``. It works where
    ``compile`` wraps the optimizer in a ``LossScaleOptimizer`` (``mixed_float16``).

    Args:
        body_variables: the variables that get the lower rate, e.g.
            ``base_model.trainable_variables`` after unfreezing its top.
        learning_rate: the head's learning rate (and Adam's ``learning_rate``).
        body_learning_rate: the body's learning rate, usually 10-100 times lower.
        **adam_kwargs: passed on to ``keras.optimizers.Adam`` (``beta_1``, ``epsilon``...).

    Returns:
        The optimizer, to pass to ``model.compile(optimizer=...)``. It does not save with the
        model (its class is not registered): recompile with a plain optimizer before
        ``model.save``, or load with ``compile=False``.

    Raises:
        TypeError: if ``body_variables`` is not a list or tuple of Keras variables.
        ValueError: if a learning rate is not a positive number, or ``body_variables`` is empty.
    """
    import keras

    if not isinstance(body_variables, list | tuple) or not all(
        isinstance(v, keras.Variable) for v in body_variables
    ):
        raise TypeError("body_variables must be a list of Keras variables, e.g. "
                        "base_model.trainable_variables")
    if not body_variables:
        raise ValueError("body_variables is empty: unfreeze part of the base first "
                         "(its trainable_variables are the body's)")
    for name, rate in (("learning_rate", learning_rate), ("body_learning_rate", body_learning_rate)):
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValueError(f"{name} must be a positive number, got {rate!r}")
    # the TensorFlow backend hands update_step the backend variable (v.value), others the
    # Keras variable: recognise both
    body_ids = frozenset(id(v) for v in body_variables) | frozenset(
        id(v.value) for v in body_variables
    )
    return _two_rate_adam_class()(
        body_ids=body_ids,
        body_factor=body_learning_rate / learning_rate,
        learning_rate=learning_rate,
        **adam_kwargs,
    )
