"""The backbone registry: complete entries, correct preprocessing, buildable models."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import backbones

REQUIRED = ["vgg16", "vgg19", "resnet50", "resnet101", "inception_v3", "xception", "densenet121",
            "mobilenet", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
            "efficientnet_b0", "efficientnet_b4", "efficientnet_v2_b0", "convnext_tiny",
            "efficientnet_lite0"]


def test_registry_has_every_required_backbone():
    assert set(REQUIRED) <= set(backbones.names())


@pytest.mark.parametrize("name", REQUIRED)
def test_entry_is_complete(name):
    entry = backbones.get(name)
    assert entry.preprocessing in backbones.PREPROCESSING_MODES
    assert 2012 <= entry.year <= 2023 and str(entry.year) in entry.paper
    assert 0.6 < entry.top1 < 0.9
    assert entry.input_size in (224, 299, 380)
    assert callable(entry.constructor) and callable(entry.preprocess_input)


@pytest.mark.parametrize(("name", "mode", "low", "high"), [
    ("mobilenet_v2", "tf", -1.0, 1.0),
    ("inception_v3", "tf", -1.0, 1.0),
    ("efficientnet_b0", "builtin", 0.0, 255.0),
    ("convnext_tiny", "builtin", 0.0, 255.0),
])
def test_preprocessing_mode_matches_what_the_function_does(name, mode, low, high):
    """The recorded mode is what preprocess_input really does to 0..255 input."""
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    y = np.asarray(backbones.preprocess(name, x.copy()))
    assert backbones.get(name).preprocessing == mode
    assert y.min() == pytest.approx(low, abs=1e-5) and y.max() == pytest.approx(high, abs=1e-5)


def test_caffe_mode_flips_to_bgr_and_subtracts_means():
    x = np.zeros((1, 1, 1, 3), dtype="float32")
    x[..., 0] = 255.0  # pure red
    y = np.asarray(backbones.preprocess("resnet50", x))
    # BGR order, ImageNet means (103.939, 116.779, 123.68) subtracted: red lands last
    np.testing.assert_allclose(y[0, 0, 0], [-103.939, -116.779, 255 - 123.68], atol=1e-3)


def test_torch_mode_uses_mean_and_std():
    y = np.asarray(backbones.preprocess("densenet121", np.full((1, 1, 1, 3), 255.0, "float32")))
    np.testing.assert_allclose(y[0, 0, 0], (1 - np.array([0.485, 0.456, 0.406]))
                               / np.array([0.229, 0.224, 0.225]), atol=1e-4)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of vgg16"):
        backbones.get("alexnet")


def test_names_are_normalised():
    assert backbones.get("MobileNet-V2").name == "mobilenet_v2"


def test_build_random_weights_matches_keras_parameter_count():
    """MobileNetV2 with its top has 3,538,984 parameters (Keras applications table: 3.5 M)."""
    model = backbones.build("mobilenet_v2", weights=None)
    assert model.count_params() == 3_538_984
    assert model.input_shape == (None, 224, 224, 3)


def test_build_without_top_uses_given_input_shape():
    model = backbones.build("mobilenet_v3_small", weights=None, include_top=False,
                            input_shape=(96, 96, 3), pooling="avg")
    assert model.output_shape == (None, 576)


def test_build_rejects_bad_weights_argument():
    with pytest.raises(ValueError, match="weights must be"):
        backbones.build("mobilenet_v2", weights=3)
