"""EfficientNet-Lite0: the .pth reader, the Keras network, and agreement with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from _pth import SYS_INFO, write_legacy, write_zip
from _reference import REFERENCE_TOP5, TOLERANCE, reference_image

from course_utils import lite0, torch_pickle
from course_utils.errors import WeightsError


@pytest.fixture(scope="module")
def model(lite0_home):
    return lite0.EfficientNetLite0()


@pytest.fixture(scope="module")
def state():
    return torch_pickle.load_state_dict(lite0.package_weights_file(), lite0.PACKAGE_FILE_SHA256)


def test_state_dict_read_without_torch(state):
    """All 296 tensors come back with PyTorch's shapes (conv OIHW, depthwise (C,1,k,k))."""
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.running_var"].dtype == np.float32
    assert np.all(state["_bn1.running_var"] > 0)


def test_checksum_mismatch_says_reinstall():
    with pytest.raises(WeightsError, match="reinstall"):
        torch_pickle.load_state_dict(lite0.package_weights_file(), "0" * 64)


def test_truncated_file_is_a_weights_error(tmp_path):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(lite0.package_weights_file().read_bytes()[:2_000_000])
    with pytest.raises(WeightsError, match="truncated"):
        torch_pickle.load_state_dict(broken)


# ------------------------------------------------------- the .pth reader on hand-made files
SMALL_STATE = {"conv.weight": np.arange(24, dtype="float32").reshape(2, 3, 2, 2),
               "bn.num_batches_tracked": np.array([7], dtype="int64"),
               "fc.bias": np.array([0.5, -1.5], dtype="float32")}


@pytest.mark.parametrize("write", [write_legacy, write_zip], ids=["legacy", "zip"])
def test_both_layouts_read_back_exactly(tmp_path, write):
    """A state_dict written in either torch.save layout comes back with its names, shapes, values."""
    state = torch_pickle.load_state_dict(write(tmp_path / "small.pth", SMALL_STATE))
    assert list(state) == list(SMALL_STATE)
    for name, array in SMALL_STATE.items():
        assert state[name].dtype == array.dtype
        np.testing.assert_array_equal(state[name], array)


class _RunsCode:
    """A pickle payload that would create ``marker`` when unpickled by plain pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("index", range(5), ids=["magic", "protocol", "sys_info", "object", "keys"])
def test_legacy_file_cannot_run_code_from_any_of_its_pickles(tmp_path, index):
    """Each of the five legacy pickles is read by the restricted unpickler: no code runs."""
    import pickle

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsCode(marker), protocol=2)
    assert b"system" in payload  # the payload really names os.system
    path = write_legacy(tmp_path / "evil.pth", SMALL_STATE, replace={index: payload})
    with pytest.raises(WeightsError, match="refusing to load it"):
        torch_pickle.load_state_dict(path)
    assert not marker.exists()


def test_zip_file_cannot_run_code(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    path = write_zip(tmp_path / "evil.pth", SMALL_STATE,
                     data_pkl=pickle.dumps({"w": _RunsCode(marker)}, protocol=2))
    with pytest.raises(WeightsError, match="refusing to load it"):
        torch_pickle.load_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize(("index", "value", "message"), [
    (0, 12345, "wrong magic number"),
    (1, 999, "protocol 999"),
    (2, {**SYS_INFO, "little_endian": False}, "big-endian"),
    (2, [1, 2], "system information is a list"),
    (4, "0", "list of storages is a str"),
])
def test_bad_legacy_headers_are_weights_errors(tmp_path, index, value, message):
    import pickle

    path = write_legacy(tmp_path / "bad.pth", SMALL_STATE,
                        replace={index: pickle.dumps(value, protocol=2)})
    with pytest.raises(WeightsError, match=message):
        torch_pickle.load_state_dict(path)


def test_network_shape(model):
    assert model.count_params() == 4_694_024  # 4.65 M parameters, as published for Lite0
    assert model.output_shape == (None, 1000)
    assert not any("se_" in layer.name for layer in model.layers)  # no squeeze-excite


@pytest.mark.parametrize("name", sorted(REFERENCE_TOP5))
def test_matches_pytorch_original(model, name):
    """Same top-5 classes as PyTorch, probabilities within 2e-3."""
    x = lite0.preprocess_input(reference_image(name)[None].astype("float32"))
    probs = model.predict(x, verbose=0)[0]
    top5 = np.argsort(probs)[::-1][:5]
    expected = REFERENCE_TOP5[name]
    assert [int(i) for i in top5] == [i for i, _ in expected]
    np.testing.assert_allclose(probs[top5], [p for _, p in expected], atol=TOLERANCE)
    if name == "chelsea":
        assert 281 <= top5[0] <= 285  # a cat
    else:
        assert top5[0] == 967  # espresso


def test_feature_extractor_any_size(lite0_home, model):
    """include_top=False + avg pooling: 1280 features, ImageNet weights, any input size."""
    base_model = lite0.EfficientNetLite0(include_top=False, pooling="avg", input_shape=(96, 96, 3))
    assert base_model.output_shape == (None, 1280)
    np.testing.assert_array_equal(base_model.get_layer("top_conv").get_weights()[0],
                                  model.get_layer("top_conv").get_weights()[0])
    x = lite0.preprocess_input(reference_image("coffee")[None, ::2, ::2][:, :96, :96]
                               .astype("float32"))
    features = base_model.predict(x, verbose=0)
    assert features.shape == (1, 1280)
    assert np.all(features >= 0) and np.all(features <= 6) and features.max() > 0  # ReLU6


def test_preprocess_input_numpy_and_tensor():
    import keras

    x = np.array([0.0, 127.0, 255.0], dtype="float32")
    np.testing.assert_allclose(lite0.preprocess_input(x), [-127 / 128, 0.0, 1.0])
    y = lite0.preprocess_input(keras.ops.convert_to_tensor(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y), [-127 / 128, 0.0, 1.0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="classes"):
        lite0.EfficientNetLite0(classes=10)
    with pytest.raises(ValueError, match="pooling"):
        lite0.EfficientNetLite0(include_top=False, weights=None, pooling="median")


def test_cache_written_once_and_damaged_cache_reconverted(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    top = lite0.converted_weights(include_top=True)
    notop = lite0.converted_weights(include_top=False)
    assert top.parent == notop.parent == tmp_path / "models"
    stamp = top.stat().st_mtime_ns
    assert lite0.converted_weights() == top and top.stat().st_mtime_ns == stamp  # cached
    assert not list(top.parent.glob("*.tmp*"))  # atomic write left nothing behind
    notop.write_bytes(notop.read_bytes()[:1000])  # damage the cache
    base_model = lite0.EfficientNetLite0(include_top=False, input_shape=(64, 64, 3))
    assert base_model.output_shape == (None, 2, 2, 1280)
    assert notop.stat().st_size > 1_000_000  # converted again
