"""Tests for course_utils.inference: folding batch normalisation into convolutions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import inference

BN = keras.layers.BatchNormalization


def _randomise_bn(model: keras.Model, seed: int = 0) -> None:
    """Give every BatchNormalization non-trivial statistics (fresh layers have mean 0, var 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, BN):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, n))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, n))
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0, 0.3, n))


def _count_bn(model: keras.Model) -> int:
    return sum(isinstance(layer, BN) for layer in model.layers)


def _images(shape, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.fixture()
def tiny_model() -> keras.Model:
    """Conv (no bias) -> BN -> ReLU -> depthwise (x2) -> BN -> conv (bias) -> BN."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = BN(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="dw")(x)
    x = BN(center=False, epsilon=1e-2, name="bn2")(x)
    x = keras.layers.Conv2D(5, 1, use_bias=True, bias_initializer="random_normal",
                            name="conv2")(x)
    outputs = BN(scale=False, name="bn3")(x)
    model = keras.Model(inputs, outputs)
    _randomise_bn(model)
    return model


def test_tiny_model_folds_every_bn_and_matches(tiny_model):
    folded = inference.fold_batchnorm(tiny_model)
    x = _images((2, 8, 8, 3))
    np.testing.assert_allclose(folded.predict(x, verbose=0),
                               tiny_model.predict(x, verbose=0), atol=1e-4, rtol=1e-4)
    assert _count_bn(folded) == 0
    assert isinstance(folded.get_layer("bn2"), keras.layers.Identity)
    assert folded.get_layer("dw").use_bias and folded.get_layer("conv1").use_bias
    assert [layer.name for layer in folded.layers] == [layer.name for layer in tiny_model.layers]


def test_original_model_is_untouched(tiny_model):
    before = [w.copy() for w in tiny_model.get_weights()]
    x = _images((2, 8, 8, 3))
    expected = tiny_model.predict(x, verbose=0)
    inference.fold_batchnorm(tiny_model)
    assert _count_bn(tiny_model) == 3
    assert not tiny_model.get_layer("conv1").use_bias
    assert all(np.array_equal(a, b) for a, b in zip(before, tiny_model.get_weights(), strict=True))
    np.testing.assert_array_equal(tiny_model.predict(x, verbose=0), expected)


def test_bn_after_add_or_with_shared_input_is_kept():
    inputs = keras.Input((6, 6, 4))
    a = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    shared = keras.layers.Conv2D(4, 1, name="conv_shared")(inputs)
    x = keras.layers.Add()([a, shared])
    x = BN(name="bn_after_add")(x)  # input comes from Add: cannot fold
    y = BN(name="bn_second_consumer")(shared)  # conv_shared also feeds Add: cannot fold
    z = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_relu")(inputs)
    z = BN(name="bn_after_activation")(z)  # activation sits between conv and BN: cannot fold
    w = BN(name="bn_ok")(keras.layers.Conv2D(4, 1, name="conv_ok")(inputs))
    model = keras.Model(inputs, [x, y, z, w])
    _randomise_bn(model)

    folded = inference.fold_batchnorm(model)
    kept = sorted(layer.name for layer in folded.layers if isinstance(layer, BN))
    assert kept == ["bn_after_activation", "bn_after_add", "bn_second_consumer"]
    data = _images((2, 6, 6, 4))
    for got, want in zip(folded.predict(data, verbose=0), model.predict(data, verbose=0),
                         strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_nested_model_is_folded(tiny_model):
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.GlobalAveragePooling2D()(tiny_model(inputs))
    outer = keras.Model(inputs, keras.layers.Dense(2, name="head")(outputs))
    folded = inference.fold_batchnorm(outer)
    x = _images((2, 8, 8, 3))
    np.testing.assert_allclose(folded.predict(x, verbose=0), outer.predict(x, verbose=0),
                               atol=1e-4, rtol=1e-4)
    inner = next(layer for layer in folded.layers if isinstance(layer, keras.Model))
    assert inner is not tiny_model and _count_bn(inner) == 0


def test_mobilenet_v2_folds_all_52_bn_layers():
    base_model = keras.applications.MobileNetV2(weights=None, include_top=False, pooling="avg",
                                                input_shape=(96, 96, 3))
    _randomise_bn(base_model)
    folded = inference.fold_batchnorm(base_model)
    assert _count_bn(base_model) == 52 and _count_bn(folded) == 0
    assert folded.count_params() < base_model.count_params()  # 4 BN vectors -> 1 bias each
    x = np.random.default_rng(2).uniform(-1, 1, (2, 96, 96, 3)).astype("float32")
    want = base_model(x, training=False).numpy()
    got = folded(x, training=False).numpy()
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()


def test_efficientnet_lite0_with_top_matches():
    from course_utils import lite0

    model = lite0.EfficientNetLite0(include_top=True, weights=None, input_shape=(64, 64, 3),
                                    classifier_activation=None)
    _randomise_bn(model)
    folded = inference.fold_batchnorm(model)
    assert _count_bn(folded) == 0
    np.testing.assert_array_equal(folded.get_layer("predictions").get_weights()[0],
                                  model.get_layer("predictions").get_weights()[0])
    x = _images((2, 64, 64, 3))
    want = model(x, training=False).numpy()
    got = folded(x, training=False).numpy()
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()


@pytest.mark.parametrize("make", [
    lambda: "a string",
    lambda: keras.layers.Dense(2),
    lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
], ids=["string", "layer", "sequential"])
def test_type_error_for_non_functional_models(make):
    with pytest.raises(TypeError, match="fold_batchnorm"):
        inference.fold_batchnorm(make())


@pytest.mark.parametrize("constant", ["NODES_BY_DEPTH", "FUNCTIONAL"])
def test_missing_internals_fall_back_to_the_unfolded_model_and_say_so_once(
        tiny_model, monkeypatch, constant):
    """A Keras without the graph internals: same model back (same results), one warning."""
    import warnings

    from course_utils import keras_internals

    renamed = ("keras.src.nowhere", "Functional") if constant == "FUNCTIONAL" else "_renamed"
    monkeypatch.setattr(keras_internals, constant, renamed)
    monkeypatch.setattr(inference, "_warned", False)
    with pytest.warns(inference.FoldingUnavailableWarning,
                      match=f"unfolded .*Keras {keras.__version__} is not supported"):
        assert inference.fold_batchnorm(tiny_model) is tiny_model
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would fail here
        assert inference.foldable_pairs(tiny_model) == {}
        assert inference.fold_batchnorm(tiny_model) is tiny_model
    assert _count_bn(tiny_model) == 3


def test_foldable_pairs_reads_the_graph_through_keras_internals(tiny_model):
    """The installed Keras exposes what folding needs: three pairs, keyed by both layers."""
    pairs = inference.foldable_pairs(tiny_model)
    names = sorted({(conv.name, bn.name) for conv, bn in pairs.values()})
    assert names == [("conv1", "bn1"), ("conv2", "bn3"), ("dw", "bn2")]
    assert len(pairs) == 6
