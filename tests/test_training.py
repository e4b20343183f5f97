"""Training helpers on a tiny conv + BatchNormalization base (8x8x3 inputs)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import training
from course_utils.models import layers

# conv 3*3*3*4 + 4 = 112; bn gamma, beta (8 trainable) + moving mean, variance (8); top 4*6 + 6.
CONV, BN_TRAINABLE, BN_MOVING, TOP = 112, 8, 8, 30
HEAD_3 = 6 * 3 + 3  # Dense(3) on 6 pooled features


@pytest.fixture
def base_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    outputs = keras.layers.Conv2D(6, 1, name="top")(x)
    return keras.Model(inputs, outputs, name="tiny_base")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (16, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 16)


def test_parameter_counts(base_model):
    assert training.trainable_params(base_model) == CONV + BN_TRAINABLE + TOP
    assert training.non_trainable_params(base_model) == BN_MOVING
    base_model.trainable = False
    assert training.trainable_params(base_model) == 0
    assert training.non_trainable_params(base_model) == CONV + BN_TRAINABLE + BN_MOVING + TOP


def test_classifier_head_and_outputs(base_model, data):
    base_model.trainable = False
    model = training.classifier(base_model, 3, preprocess_input=lambda x: x / 255.0, name="clf")
    assert model.name == "clf"
    assert [layer.name for layer in model.layers[-3:]] == ["pool", "dropout", "predictions"]
    assert model.input_shape == (None, 8, 8, 3)
    assert training.trainable_params(model) == HEAD_3
    probs = np.asarray(model(data[0][:4]))
    assert probs.shape == (4, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_classifier_on_pooled_base_skips_pooling_and_accepts_a_layer(base_model):
    pooled = keras.Sequential([base_model, keras.layers.GlobalAveragePooling2D()])
    model = training.classifier(pooled, 4, preprocess_input=keras.layers.Rescaling(1 / 255))
    assert "pool" not in [layer.name for layer in model.layers]
    assert model.output_shape == (None, 4)


def test_classifier_needs_a_fixed_input_size():
    any_size = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 1)])
    with pytest.raises(ValueError, match="image_size"):
        training.classifier(any_size, 2)
    assert training.classifier(any_size, 2, image_size=8).input_shape == (None, 8, 8, 3)


@pytest.mark.parametrize(("num_classes", "dropout"), [(1, 0.2), (True, 0.2), (3, 1.0), (3, -0.1)])
def test_classifier_bad_arguments(base_model, num_classes, dropout):
    with pytest.raises(ValueError):
        training.classifier(base_model, num_classes, dropout=dropout)


# base_model.layers: input, conv, bn, relu, top; "the top n layers" counts every one of them.
@pytest.mark.parametrize(("n", "expected"), [(0, 0), (1, TOP), (3, TOP), (4, CONV + TOP),
                                             (5, CONV + TOP)])
def test_unfreeze_top_counts_every_layer_and_keeps_bn_frozen(base_model, n, expected):
    base_model.trainable = False
    assert training.unfreeze_top(base_model, n) == expected
    assert base_model.trainable
    assert not base_model.get_layer("bn").trainable
    assert base_model.get_layer("top").trainable == (n >= 1)
    assert base_model.get_layer("relu").trainable == (n >= 2)
    assert base_model.get_layer("conv").trainable == (n >= 4)


def test_unfreeze_top_closes_what_an_earlier_call_opened(base_model):
    training.unfreeze_top(base_model, 4)
    assert training.unfreeze_top(base_model, 1) == TOP
    assert not base_model.get_layer("conv").trainable


@pytest.mark.parametrize(
    ("n", "error"), [(6, ValueError), (-1, ValueError), (1.0, TypeError), (True, TypeError)]
)
def test_unfreeze_top_validates_n(base_model, n, error):
    with pytest.raises(error, match="n "):
        training.unfreeze_top(base_model, n)


# The top of EfficientNet-Lite0 (and keras.applications' EfficientNets), bottom to top.
LITE0_TOP = ["block6d_project_bn", "block6d_add", "block7a_expand_conv", "block7a_expand_bn",
             "block7a_dwconv", "block7a_project_conv", "top_conv", "top_bn", "avg_pool"]


@pytest.mark.parametrize(("name", "block"), [
    ("block6d_expand_conv", "block6d"), ("block_14_add", "block_14"),
    ("conv5_block3_out", "conv5_block3"), ("block5_conv3", "block5"), ("top_conv", None),
    ("expanded_conv_project", None), ("blockade", None),
])
def test_block_of_reads_keras_applications_names(name, block):
    assert layers.block_of(name) == block


def test_split_block_says_which_block_a_cut_falls_inside():
    assert layers.split_block(LITE0_TOP, 3) is None  # top_conv and above: outside any block
    assert layers.split_block(LITE0_TOP, 4) == ("block7a", 3, 1)
    assert layers.split_block(LITE0_TOP, 7) is None  # block7a whole
    assert layers.split_block(LITE0_TOP, 8) == ("block6d", 1, 1)
    assert layers.split_block(LITE0_TOP, 0) is None
    assert layers.split_block(LITE0_TOP, len(LITE0_TOP)) is None


def test_top_block_layers_cover_whole_blocks():
    assert layers.top_block_layers(LITE0_TOP, 0) == 0
    assert layers.top_block_layers(LITE0_TOP, 1) == 7  # block7a + top_conv, top_bn, avg_pool
    assert layers.top_block_layers(LITE0_TOP, 2) == 9
    for k in (1, 2):
        assert layers.split_block(LITE0_TOP, layers.top_block_layers(LITE0_TOP, k)) is None
    with pytest.raises(ValueError, match="between 0 and 2"):
        layers.top_block_layers(LITE0_TOP, 3)


def test_fit_changes_only_unfrozen_weights(base_model, data):
    training.unfreeze_top(base_model, 1)
    model = training.classifier(base_model, 3)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    frozen = {
        v.path: np.array(v) for layer in ("conv", "bn") for v in base_model.get_layer(layer).weights
    }
    top_before = np.array(base_model.get_layer("top").kernel)
    model.fit(*data, epochs=1, batch_size=8, verbose=0)
    for path, before in frozen.items():  # includes bn moving_mean / moving_variance
        np.testing.assert_array_equal(
            before, np.array(next(v for v in base_model.weights if v.path == path)), err_msg=path
        )
    assert not np.allclose(top_before, np.array(base_model.get_layer("top").kernel))


class StopAfterEpoch(keras.callbacks.Callback):
    """Simulates a disconnect: raises at the end of the given (0-based) epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("disconnected")


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_backup_callback_resumes_after_interruption(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(8, 4)), np.arange(8) % 2
    backup = training.backup_callback(tmp_path / "backup")
    assert isinstance(backup, keras.callbacks.BackupAndRestore)
    assert backup.double_checkpoint
    with pytest.raises(RuntimeError, match="disconnected"):
        model.fit(x, y, epochs=4, verbose=0, callbacks=[backup, StopAfterEpoch(1)])
    assert (tmp_path / "backup").exists()
    weights_at_interruption = [np.array(w) for w in model.weights]
    recorder = Recorder()
    model.fit(
        x,
        y,
        epochs=4,
        verbose=0,
        callbacks=[training.backup_callback(tmp_path / "backup"), recorder],
    )
    assert recorder.epochs == [2, 3]
    assert not any(
        np.allclose(a, np.array(b))
        for a, b in zip(weights_at_interruption, model.weights, strict=True)
    )
    assert not (tmp_path / "backup").exists() or not any((tmp_path / "backup").iterdir())


def test_backup_callback_rejects_non_paths():
    with pytest.raises(TypeError):
        training.backup_callback(None)


def _two_part_model():
    """A 'body' Dense and a 'head' Dense on 4 inputs, and a batch to fit them on."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,))
    x = keras.layers.Dense(5, activation="relu", name="body")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", dtype="float32", name="head")(x)
    rng = np.random.default_rng(0)
    return keras.Model(inputs, outputs), rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 3, 16)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_two_rate_adam_moves_the_body_by_its_lower_rate(policy):
    saved = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model, x, y = _two_part_model()
        body, head = model.get_layer("body"), model.get_layer("head")
        optimizer = training.two_rate_adam(body.trainable_variables, learning_rate=1e-2,
                                           body_learning_rate=1e-4)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        if policy == "mixed_float16":  # compile wrapped it for loss scaling; ours is inside
            assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        before = {v.path: v.numpy().copy() for v in model.trainable_variables}
        model.train_on_batch(x, y)
        for layer, rate in ((body, 1e-4), (head, 1e-2)):
            # Adam's first step moves each weight with a non-zero gradient by the learning rate
            steps = np.abs(layer.kernel.numpy() - before[layer.kernel.path])
            moved = steps[steps > 0]
            assert moved.size > 0, f"{layer.name} did not move under {policy}"
            np.testing.assert_allclose(moved.max(), rate, rtol=0.05)
    finally:
        keras.mixed_precision.set_global_policy(saved)


def test_two_rate_adam_equal_rates_is_plain_adam():
    runs = []
    for make in (lambda m: training.two_rate_adam(m.get_layer("body").trainable_variables, 1e-2, 1e-2),
                 lambda m: keras.optimizers.Adam(1e-2)):
        model, x, y = _two_part_model()
        model.compile(optimizer=make(model), loss="sparse_categorical_crossentropy")
        for _ in range(3):
            model.train_on_batch(x, y)
        runs.append(model.get_weights())
    for a, b in zip(*runs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"body_variables": []}, ValueError),
     ({"body_variables": [np.zeros(3)]}, TypeError),
     ({"body_variables": "body"}, TypeError),
     ({"learning_rate": 0.0}, ValueError),
     ({"body_learning_rate": -1e-5}, ValueError)],
)
def test_two_rate_adam_validates_its_arguments(kwargs, error):
    model, _, _ = _two_part_model()
    args = {"body_variables": model.get_layer("body").trainable_variables, **kwargs}
    with pytest.raises(error):
        training.two_rate_adam(**args)
