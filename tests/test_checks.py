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


class RiggedInt(int):
    """An int whose conversions and comparisons all claim another value."""

    def __eq__(self, other):
        return True

    def __int__(self):
        return 7

    __index__ = __int__
    __hash__ = int.__hash__


class RiggedInt64(np.int64):
    def __eq__(self, other):
        return True

    def __int__(self):
        return 7

    def item(self):
        return 7

    __hash__ = np.int64.__hash__


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_int_means_any_integral_number(value):
    """Where an exercise says "an int", NumPy integers (np.prod's result) pass too."""
    checks.expect_type(value, int, "count")
    checks.expect_equal(value, 3, "count")
    checks.expect_equal((value, "x"), (3, "x"))


@pytest.mark.parametrize(("value", "hint"), [
    (True, "got bool"), (np.bool_(True), "got numpy.bool"), (3.0, "integer arithmetic"),
    (np.float64(3.0), "integer arithmetic"), ("3", "got str"), (AlwaysEqual(), "AlwaysEqual")])
def test_int_refuses_bools_floats_and_others(value, hint):
    """A bool, a float (even 3.0) or a string is not an int; the message says what to do."""
    with pytest.raises(AssertionError, match="count should be an int") as info:
        checks.expect_type(value, int, "count")
    assert hint in str(info.value)
    with pytest.raises(AssertionError, match="should be an int"):
        checks.expect_equal(value, 3, "count")


def test_int_is_compared_by_its_real_value():
    """An int subclass lying through __eq__, __int__ or item() is compared by what it holds."""
    with pytest.raises(AssertionError, match="count is 3, expected 7"):
        checks.expect_equal(RiggedInt(3), 7, "count")
    with pytest.raises(AssertionError, match="count is 3, expected 7"):
        checks.expect_equal(RiggedInt64(3), 7, "count")
    checks.expect_type(True, (bool, np.bool_))  # a bool passes where bool is asked for


def test_int_tensor_gets_a_conversion_hint():
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(AssertionError, match=r"tensor, convert it with int\(\.\.\.\)"):
        checks.expect_type(tf.constant(3), int, "count")


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


# ----------------------------------------------------------------------------- Keras models
@pytest.fixture(scope="module")
def keras():
    from course_utils.runtime.tf import quiet_tensorflow

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


def test_inference_mode_call_is_found_in_nested_models(keras):
    """A classifier used as one layer of a bigger model: its call of the base is read too."""
    base_model = _base(keras)
    for training, passes in ((False, True), (None, False)):
        inputs = keras.Input((8, 8, 3))
        flipped = keras.layers.RandomFlip("horizontal")(inputs)
        outer = keras.Model(inputs, _classifier(keras, base_model, training)(flipped))
        if passes:
            checks.expect_base_called_in_inference_mode(outer, base_model)
            checks.expect_base_called_in_inference_mode(
                keras.Sequential([keras.Input((8, 8, 3)), _classifier(keras, base_model, False)]),
                base_model)
        else:
            with pytest.raises(AssertionError, match="training=False"):
                checks.expect_base_called_in_inference_mode(outer, base_model)
    with pytest.raises(AssertionError, match="does not call base_model"):
        checks.expect_base_called_in_inference_mode(_classifier(keras, _base(keras), False),
                                                    base_model)


def test_validated_on_reads_the_validation_loss_fit_left_on_the_model(keras):
    """validation_data=(x_test, y_test) is seen in any form (arrays, a dataset, early stopping
    that restores its best epoch, another batch size), a split of the training data is not."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, x_test = rng.normal(size=(200, 4)), rng.normal(size=(60, 4))
    y, y_test = (x[:, 0] > 0).astype(int), (x_test[:, 0] > 0).astype(int)

    def fitted(**options):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.2),
                                  keras.layers.Dense(2)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, verbose=0, **{"epochs": 3, **options})
        return model

    stop = keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True)
    batches = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(7)
    for options in ({"validation_data": (x_test, y_test)}, {"validation_data": batches},
                    {"validation_data": (x_test, y_test), "batch_size": 64},
                    {"validation_data": (x_test, y_test), "callbacks": [stop], "epochs": 30}):
        model = fitted(**options)
        assert checks.validated_on(model, x_test, y_test), options
        assert not checks.validated_on(model, x_test, 1 - y_test), options
    assert not checks.validated_on(fitted(validation_split=0.2, epochs=30), x_test, y_test)
    assert not checks.validated_on(fitted(), x_test, y_test)  # no validation at all
    assert not checks.validated_on(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
                                   x_test, y_test)


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
    """Compile, train, unfreeze, train again without compile: rejected on every Keras version."""
    x, y = _data()
    base_model = _base(keras)
    base_model.trainable = False
    model = _classifier(keras, base_model, False)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(x, y)
    checks.expect_compiled_after_trainable_change(model)
    base_model.trainable = True
    model.train_on_batch(x, y)  # the step compiled for the frozen base: the base does not train
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


def _fixed_scores_model(keras, activation=None):
    """A Dense layer with the identity kernel: the scores are the inputs themselves."""
    inputs = keras.Input((2,))
    layer = keras.layers.Dense(2, activation=activation, kernel_initializer="identity",
                               bias_initializer="zeros")
    return keras.Model(inputs, layer(inputs))


# ------------------------------------------------ keras_internals: every probe fails closed
def _trained_then_unfrozen(keras):
    """Frozen base, compile, one training step, then unfreeze without compiling again."""
    x, y = _data()
    base_model = _base(keras)
    base_model.trainable = False
    model = _classifier(keras, base_model, False)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(x, y)
    base_model.trainable = True
    return model


def test_probe_functional_graph_exists_and_reads_training_flag(keras):
    """The installed Keras exposes the functional class and the recorded call arguments."""
    from course_utils import keras_internals

    base_model = _base(keras)
    model = _classifier(keras, base_model, False)
    assert isinstance(model, keras_internals.functional_class())
    calls = [c for c in keras_internals.layer_calls(model) if c.operation is base_model]
    assert len(calls) == 1 and calls[0].kwargs["training"] is False
    assert len(calls[0].inputs) == 1 and len(calls[0].outputs) == 1


@pytest.mark.parametrize("constant", ["NODES_BY_DEPTH", "NODE_ARGUMENTS", "NODE_OPERATION",
                                      "NODE_INPUTS", "NODE_OUTPUTS"])
def test_renamed_graph_internals_raise_not_pass(keras, monkeypatch, constant):
    """A Keras that renamed a graph attribute gets an error naming its version, never a pass."""
    from course_utils import keras_internals
    from course_utils.errors import CourseError

    base_model = _base(keras)
    model = _classifier(keras, base_model, False)
    monkeypatch.setattr(keras_internals, constant, "_renamed_in_a_future_keras")
    with pytest.raises(keras_internals.UnsupportedKerasError,
                       match=f"Keras {keras.__version__} is not supported") as info:
        checks.expect_base_called_in_inference_mode(model, base_model)
    assert isinstance(info.value, CourseError) and "\n" not in str(info.value)


def test_missing_functional_class_raises_not_pass(keras, monkeypatch):
    from course_utils import keras_internals

    base_model = _base(keras)
    model = _classifier(keras, base_model, False)
    monkeypatch.setattr(keras_internals, "FUNCTIONAL", ("keras.src.models.nowhere", "Functional"))
    with pytest.raises(keras_internals.UnsupportedKerasError, match="not supported"):
        checks.expect_base_called_in_inference_mode(model, base_model)


def test_probe_compiled_flags_exist_and_catch_a_missing_compile(keras):
    """Keras >= 3.15 records the flags at compile; unfreezing afterwards is rejected."""
    from course_utils import keras_internals

    base_model = _base(keras)
    base_model.trainable = False
    model = _classifier(keras, base_model, False)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    flags = keras_internals.compiled_trainable_flags(model)
    if keras_internals._version_tuple() < keras_internals.FIRST_RECORDING_VERSION:
        assert flags is None
        pytest.skip(f"Keras {keras.__version__} records no flags at compile time")
    assert flags[base_model] is False and flags[model.layers[-1]] is True
    base_model.trainable = True
    with pytest.raises(AssertionError, match="compile"):
        checks.expect_compiled_after_trainable_change(model)


def test_renamed_compiled_flags_raise_not_pass(keras, monkeypatch):
    """On a Keras that should record flags, a renamed attribute is an error, even for a good model."""
    from course_utils import keras_internals

    model = _classifier(keras, _base(keras), False)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    monkeypatch.setattr(keras_internals, "COMPILED_TRAINABLE_STATE", "_renamed")
    monkeypatch.setattr(keras_internals, "FIRST_RECORDING_VERSION", (0,))
    with pytest.raises(keras_internals.UnsupportedKerasError, match="not supported"):
        checks.expect_compiled_after_trainable_change(model)


def test_probe_optimizer_variables_exist_and_catch_training_without_compile(keras, monkeypatch):
    """Without recorded flags (Keras 3.13, simulated), the built optimizer still gives it away."""
    from course_utils import keras_internals

    model = _trained_then_unfrozen(keras)
    tracked = keras_internals.optimizer_variables(model.optimizer)
    assert {id(v) for v in tracked} == {id(v) for v in model.layers[-1].trainable_weights}
    monkeypatch.setattr(keras_internals, "COMPILED_TRAINABLE_STATE", "_absent_in_keras_3_13")
    monkeypatch.setattr(keras_internals, "FIRST_RECORDING_VERSION", (99,))
    with pytest.raises(AssertionError, match="different set of variables"):
        checks.expect_compiled_after_trainable_change(model)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    checks.expect_compiled_after_trainable_change(model)  # compiled again: a fresh optimizer


def test_renamed_optimizer_variables_raise_not_pass(keras, monkeypatch):
    from course_utils import keras_internals

    model = _trained_then_unfrozen(keras)
    monkeypatch.setattr(keras_internals, "OPTIMIZER_VARIABLES", "_renamed")
    monkeypatch.setattr(keras_internals, "FIRST_RECORDING_VERSION", (99,))
    monkeypatch.setattr(keras_internals, "COMPILED_TRAINABLE_STATE", "_absent")
    with pytest.raises(keras_internals.UnsupportedKerasError, match="optimizer"):
        checks.expect_compiled_after_trainable_change(model)


def test_unbuilt_optimizer_without_recorded_flags_passes_only_before_training(keras,
                                                                               monkeypatch):
    """Keras 3.13 (simulated): no step since compile, so the next fit uses today's flags."""
    from course_utils import keras_internals

    monkeypatch.setattr(keras_internals, "COMPILED_TRAINABLE_STATE", "_absent_in_keras_3_13")
    monkeypatch.setattr(keras_internals, "FIRST_RECORDING_VERSION", (99,))
    base_model = _base(keras)
    base_model.trainable = False
    model = _classifier(keras, base_model, False)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    base_model.trainable = True
    checks.expect_compiled_after_trainable_change(model)
    model.train_function = lambda *args: None  # a traced step, but no optimizer to compare
    with pytest.raises(keras_internals.UnsupportedKerasError, match="not support"):
        checks.expect_compiled_after_trainable_change(model)


@pytest.mark.parametrize(("loss", "activation", "message"), [
    ("sparse_categorical_crossentropy", None, "linear"),
    ("mse", None, None),
    (lambda y, p: p, None, "cannot tell whether the loss"),
    ("keras_fn_logits", "softmax", "applies softmax"),
])
def test_loss_from_logits_read_through_public_api(keras, loss, activation, message):
    """Strings, loss functions (their from_logits default) and unknown callables (an error)."""
    import functools

    if loss == "keras_fn_logits":
        loss = functools.partial(keras.losses.sparse_categorical_crossentropy, from_logits=True)
    model = _classifier(keras, _base(keras), False, activation=activation)
    model.compile("adam", loss)
    if message:
        with pytest.raises(AssertionError, match=message):
            checks.expect_activation_matches_loss(model)
    else:
        checks.expect_activation_matches_loss(model)


def test_nested_batchnorm_found_without_private_api(keras):
    """BatchNorm two models deep is found by the public ``layers`` recursion."""
    inner = _base(keras)
    middle = keras.Model(inner.input, inner.output, name="middle")
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, keras.layers.Dense(2)(middle(inputs, training=False)))
    with pytest.raises(AssertionError, match="BatchNorm layer bn is trainable"):
        checks.expect_bn_frozen(outer)
    inner.get_layer("bn").trainable = False
    checks.expect_bn_frozen(outer)


def test_pipeline_steps_apply_in_order(keras):
    """ex05's pipelines: Keras's preprocess_input edits a float array in place, as in a
    student's pipeline; an affine step and a channel swap make new arrays."""
    photos = np.arange(2 * 2 * 2 * 3, dtype="float32").reshape(2, 2, 2, 3) * 10
    double = checks.pipeline(("affine", 1 / 255, 0.0), ("keras", "mobilenet_v2"))
    np.testing.assert_allclose(double(photos.copy()), photos / 255 / 127.5 - 1, atol=1e-6)
    x = photos.copy()
    checks.pipeline(("keras", "resnet50"))(x)
    assert not np.array_equal(x, photos)  # caffe, in place
    swapped = checks.pipeline(("bgr",), ("affine", 1.0, [-1.0, -2.0, -3.0]))(photos)
    np.testing.assert_array_equal(swapped, photos[..., ::-1] - [1, 2, 3])
    assert checks.pipeline()(photos) is photos
    for step in [("scale", 2.0), ("affine", 1.0), "bgr", ()]:
        with pytest.raises(ValueError, match="unknown pipeline step"):
            checks.pipeline(step)


def test_on_images_names_the_photos_a_function_was_run_on():
    given, notebook = np.zeros((2, 4, 4, 3), "float32"), np.ones((3, 4, 4, 3), "float32")
    given[1] = 5.0
    guarded = checks.on_images(lambda x: x + 1, given, message="changed in place",
                               elsewhere=notebook, elsewhere_message="used the global")
    np.testing.assert_array_equal(guarded(given[::-1].astype("float64")), given[::-1] + 1)
    with pytest.raises(AssertionError, match="used the global"):
        guarded(notebook[:1])
    with pytest.raises(AssertionError, match="changed in place"):
        guarded(given - 1)
    lenient = checks.on_images(lambda x: x * 2, given, elsewhere=notebook,
                               elsewhere_message="used the global")
    np.testing.assert_array_equal(lenient(given - 1), (given - 1) * 2)  # no message: it runs
