"""Tests for course_utils.checks: the checks exercise test cells call."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import checks


class AlwaysEqual:
    """What a student might return to game ``assert answer == expected``."""

    def __eq__(self, other):
        return True

    __hash__ = None


class RiggedFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


@pytest.mark.parametrize("value", [AlwaysEqual(), "0.5", None, True, np.array([0.5])])
def test_expect_number_rejects_non_numbers(value):
    """An always-equal object, a string, None, a bool or an array never passes as a number."""
    with pytest.raises(AssertionError):
        checks.expect_number(value, 0.5)


def test_expect_number_compares_plain_floats():
    """A float subclass with a rigged __eq__ is compared by its real value."""
    with pytest.raises(AssertionError, match="expected 0.5"):
        checks.expect_number(RiggedFloat(0.1), 0.5)
    assert checks.expect_number(np.float32(0.5), 0.5) is None  # None: no partial-credit output
    checks.expect_number(3, low=0, high=5)
    with pytest.raises(AssertionError, match="at most 5"):
        checks.expect_number(7, high=5)


def test_expect_number_names_tensor_pitfall():
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(AssertionError, match="float"):
        checks.expect_number(tf.constant(0.5), 0.5)


def test_expect_none_hints_not_implemented():
    with pytest.raises(AssertionError, match="NotImplementedError"):
        checks.expect_type(None, int, "num_classes")


def test_expect_equal_is_type_strict():
    """Containers are compared item by item with exact types; an always-equal item fails."""
    checks.expect_equal(["a", 1, 2.0], ["a", 1, 2.0])
    checks.expect_equal({"x": (1, 2)}, {"x": (1, 2)})
    with pytest.raises(AssertionError, match=r"answer\[1\]"):
        checks.expect_equal(["a", AlwaysEqual()], ["a", 1])
    with pytest.raises(AssertionError):
        checks.expect_equal(AlwaysEqual(), "cat")
    with pytest.raises(AssertionError, match="expected 'cat'"):
        checks.expect_equal("dog", "cat")


def test_expect_array_shape_and_dtype():
    checks.expect_array(np.zeros((4, 3), "float32"), shape=(None, 3), dtype_kind="f")
    with pytest.raises(AssertionError, match=r"shape \(4, 3\)"):
        checks.expect_array(np.zeros((4, 3)), shape=(4, 2))
    with pytest.raises(AssertionError, match="dtype"):
        checks.expect_array(np.zeros(3, int), dtype_kind="f")
    with pytest.raises(AssertionError, match="NumPy array"):
        checks.expect_array([1, 2, 3])
    with pytest.raises(AssertionError, match="largest difference"):
        checks.expect_allclose(np.array([1.0, 2.0]), [1.0, 2.5])


@pytest.mark.parametrize(("x", "family", "ok"), [
    (np.linspace(0, 1, 10), "tf", False),
    (np.linspace(-1, 1, 10), "tf", True),
    (np.linspace(0, 255, 10), "builtin", True),
    (np.linspace(0, 255, 10), "lite", False),
])
def test_expect_preprocessed_range(x, family, ok):
    if ok:
        checks.expect_preprocessed_range(x, family)
    else:
        with pytest.raises(AssertionError, match="expects"):
            checks.expect_preprocessed_range(x, family)


def test_preprocessed_range_names_the_model():
    with pytest.raises(AssertionError, match=r"\[0, 1\] but MobileNetV2 expects \[-1, 1\]"):
        checks.expect_preprocessed_range(np.linspace(0, 1, 10), "mobilenet_v2")


# ----------------------------------------------------------------------------- Keras models
@pytest.fixture(scope="module")
def keras():
    from course_utils.setup import quiet_tensorflow

    quiet_tensorflow()
    import keras

    return keras


def _base(keras):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x, name="base")


def _classifier(keras, base_model, training, activation=None):
    inputs = keras.Input((8, 8, 3))
    x = base_model(inputs, training=False) if training is False else base_model(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation=activation)(x))


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(2.0, 3.0, (8, 8, 8, 3)).astype("float32"), np.array([0, 1] * 4)


def test_trainable_counts_and_frozen(keras):
    base_model = _base(keras)
    trainable, non_trainable = trainable_counts = checks.trainable_counts(base_model)
    assert trainable_counts == (4 * 27 + 4 + 4 + 4, 8)  # conv kernel+bias, BN gamma+beta; stats
    with pytest.raises(AssertionError, match="base_model.trainable = False"):
        checks.expect_frozen(base_model)
    base_model.trainable = False
    checks.expect_frozen(base_model)
    assert checks.trainable_counts(base_model) == (0, trainable + non_trainable)


def test_expect_model_rejects_always_equal(keras):
    with pytest.raises(AssertionError, match="Model"):
        checks.expect_model(AlwaysEqual())


def test_bn_frozen(keras):
    base_model = _base(keras)
    with pytest.raises(AssertionError, match="BatchNorm layer bn is trainable"):
        checks.expect_bn_frozen(_classifier(keras, base_model, False))
    base_model.get_layer("bn").trainable = False
    checks.expect_bn_frozen(_classifier(keras, base_model, False))


def test_inference_mode_call_is_detected(keras):
    base_model = _base(keras)
    checks.expect_base_called_in_inference_mode(_classifier(keras, base_model, False), base_model)
    with pytest.raises(AssertionError, match="training=False"):
        checks.expect_base_called_in_inference_mode(_classifier(keras, base_model, None),
                                                    base_model)
    sequential = keras.Sequential([keras.Input((8, 8, 3)), base_model, keras.layers.Dense(2)])
    with pytest.raises(AssertionError, match="training=False"):
        checks.expect_base_called_in_inference_mode(sequential, base_model)


def test_bn_statistics_change_is_caught_and_weights_restored(keras):
    """Unfrozen base called in training mode: BN statistics move, the check says so."""
    x, y = _data()
    base_model = _base(keras)
    model = _classifier(keras, base_model, None)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    base_model.get_layer("conv").trainable = False  # conv frozen, BN trainable + training mode
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [np.array(w) for w in model.weights]
    with pytest.raises(AssertionError, match="BatchNorm statistics changed"):
        checks.expect_weights_unchanged_after_step(model, base_model, x, y)
    assert all(np.array_equal(a, np.array(w)) for a, w in zip(before, model.weights, strict=True))

    good_base = _base(keras)
    good = _classifier(keras, good_base, False)
    good_base.trainable = False
    good.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    checks.expect_weights_unchanged_after_step(good, good_base, x, y)


def test_recompile_after_unfreezing_is_required(keras):
    base_model = _base(keras)
    base_model.trainable = False
    model = _classifier(keras, base_model, False)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    checks.expect_compiled_after_trainable_change(model)
    base_model.trainable = True
    with pytest.raises(AssertionError, match="compile"):
        checks.expect_compiled_after_trainable_change(model)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    checks.expect_compiled_after_trainable_change(model)


@pytest.mark.parametrize(("activation", "from_logits", "message"), [
    ("softmax", True, "applies softmax"),
    (None, False, "linear"),
    ("softmax", False, None),
    (None, True, None),
])
def test_activation_matches_loss(keras, activation, from_logits, message):
    model = _classifier(keras, _base(keras), False, activation=activation)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
    if message:
        with pytest.raises(AssertionError, match=message):
            checks.expect_activation_matches_loss(model)
    else:
        checks.expect_activation_matches_loss(model)


def test_expect_accuracy(keras):
    x, y = _data()
    model = _classifier(keras, _base(keras), False)
    with pytest.raises(AssertionError, match="at least 1.000"):
        checks.expect_accuracy(model, [(x, y)], low=1.0)
    checks.expect_accuracy(model, [(x, y)], low=0.0)
