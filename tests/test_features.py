"""Tests for course_utils.features: the tf.data pipeline, extraction and the feature cache."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import features, paths

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def base_model():
    """A tiny two-layer conv net standing in for a frozen backbone (4 features out)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, outputs, name="tiny_base")


@pytest.fixture(scope="module")
def dataset():
    """10 images in batches of 4 (the last one is short), labels 0..9 in order."""
    images = np.random.default_rng(0).uniform(0, 255, (10, 8, 8, 3)).astype("float32")
    labels = np.arange(10)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(4), images, labels


def _count_calls(monkeypatch, model) -> list[int]:
    calls: list[int] = []
    original = model.predict_on_batch

    def counting(x):
        calls.append(int(x.shape[0]))
        return original(x)

    monkeypatch.setattr(model, "predict_on_batch", counting)
    return calls


def test_prepare_keeps_elements_and_shuffle_reorders(dataset):
    ds, images, labels = dataset
    unbatched = ds.unbatch()
    plain = [int(y) for _, y in features.prepare(unbatched)]
    assert plain == labels.tolist()
    shuffled = [int(y) for _, y in features.prepare(unbatched, shuffle=True, seed=1)]
    assert sorted(shuffled) == labels.tolist() and shuffled != plain


def test_extract_matches_direct_call_and_preprocessing(base_model, dataset, monkeypatch):
    ds, images, labels = dataset
    calls = _count_calls(monkeypatch, base_model)
    x, y = features.extract(base_model, ds, lambda batch: batch / 255.0, verbose=0)
    assert x.shape == (10, 4) and x.dtype == np.float32
    assert np.array_equal(y, labels)
    assert calls == [4, 4, 2]  # one pass over the data
    np.testing.assert_allclose(x, base_model(images / 255.0).numpy(), rtol=1e-5, atol=1e-6)


def test_extract_keeps_labels_aligned_on_a_shuffled_dataset(base_model, dataset):
    ds, images, labels = dataset
    shuffled = ds.unbatch().shuffle(10, seed=3).batch(3)
    x, y = features.extract(base_model, shuffled, verbose=0)
    np.testing.assert_allclose(x, base_model(images[y]).numpy(), rtol=1e-5, atol=1e-6)


def test_extract_empty_dataset_raises(base_model, dataset):
    ds, _, _ = dataset
    with pytest.raises(ValueError, match="no elements"):
        features.extract(base_model, ds.take(0), verbose=0)


def test_cached_equals_fresh_and_hit_skips_the_model(base_model, dataset, tmp_path, monkeypatch):
    ds, _, _ = dataset
    fresh = features.extract(base_model, ds, verbose=0)
    calls = _count_calls(monkeypatch, base_model)
    first = features.cached(base_model, ds, None, "toy-train", directory=tmp_path, verbose=0)
    assert len(calls) == 3
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and "toy-train-tiny_base" in files[0].name
    second = features.cached(base_model, ds, None, "toy-train", directory=tmp_path, verbose=0)
    assert len(calls) == 3  # read from disk, model not called again
    for result in (first, second):
        np.testing.assert_array_equal(result[0], fresh[0])
        np.testing.assert_array_equal(result[1], fresh[1])
    features.cached(base_model, ds, None, "toy-val", directory=tmp_path, verbose=0)
    assert len(calls) == 6 and len(list(tmp_path.glob("*.npz"))) == 2
    assert not list(tmp_path.glob(".*tmp"))  # written atomically, no leftovers


def test_cache_dir_from_environment_and_empty_key(base_model, dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert paths.features_dir() == tmp_path / "features"
    with pytest.raises(ValueError, match="key"):
        features.cached(base_model, dataset[0], None, "")


def test_cache_tells_different_weights_apart(tmp_path):
    """Same architecture and name, other weights (pretrained vs random): not a cache hit."""

    def model(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                                 keras.layers.Dense(2)], name="same_name")

    ds = tf.data.Dataset.from_tensor_slices((np.ones((4, 4, 4, 3), "float32"),
                                             np.arange(4))).batch(2)
    first, _ = features.cached(model(1), ds, None, "k", directory=tmp_path, verbose=0)
    second, _ = features.cached(model(2), ds, None, "k", directory=tmp_path, verbose=0)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert not np.allclose(first, second)


def test_extract_folds_batchnorm_without_changing_the_features(dataset, monkeypatch):
    """The folded copy (faster on a CPU) gives the features of the model as written."""
    from course_utils import inference

    folds = []
    original_fold = inference.fold_batchnorm
    monkeypatch.setattr(inference, "fold_batchnorm",
                        lambda model: folds.append(model.name) or original_fold(model))
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    bn = keras.layers.BatchNormalization()
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(bn(x)))
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    bn.moving_mean.assign(rng.normal(size=4))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=4))
    ds = dataset[0]
    folded, _ = features.extract(model, ds, verbose=0)
    plain, _ = features.extract(model, ds, verbose=0, fold=False)
    np.testing.assert_allclose(folded, plain, rtol=1e-4, atol=1e-4)
    assert not np.allclose(plain, 0)
    assert folds == [model.name]  # folded once (fold=True), not with fold=False
