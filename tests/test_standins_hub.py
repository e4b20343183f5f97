"""Lesson 6's online keras-hub calls, run offline against the stand-ins of tests/standins_hub.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import standins_hub

# Runs in a fresh interpreter with only build()'s variables added to the environment. An audit
# hook refuses every socket connection and name lookup and records it: a cache miss anywhere
# (a file keras-hub probes that is not cached) would show up as an attempt, not pass silently.
# First it shows the guard working: with an empty Kaggle cache the same call must try the
# network and be stopped.
CALLS = r"""
import json, os, sys, tempfile, time
attempts = []
def no_network(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        attempts.append(f"{event} {args[1] if event == 'socket.connect' else args[0]}")
        raise ConnectionRefusedError(f"stand-in test: no network ({event})")
sys.addaudithook(no_network)

import numpy as np
import keras
import keras_hub

if len(sys.argv) > 1:
    keras.config.set_dtype_policy(sys.argv[1])
kwargs = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
result, times = {}, {}

cache = os.environ["KAGGLEHUB_CACHE"]
os.environ["KAGGLEHUB_CACHE"] = tempfile.mkdtemp()  # kagglehub reads it at each call
try:
    keras_hub.models.ImageClassifier.from_preset("efficientnet_b0_ra_imagenet")
    result["empty_cache"] = "loaded"
except Exception as exc:
    result["empty_cache"] = type(exc).__name__
result["empty_cache_attempts"] = len(attempts)
os.environ["KAGGLEHUB_CACHE"] = cache
attempts.clear()

def timed(name, function):
    start = time.perf_counter()
    try:
        return function()
    except Exception as exc:
        result[name + "_error"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        times[name] = round(time.perf_counter() - start, 2)

rng = np.random.default_rng(0)
images = rng.uniform(0, 255, (2, 224, 224, 3)).astype("float32")
photo = rng.integers(0, 256, (384, 512, 3), dtype="uint8")
words = {0: "cat dog bird fish horse", 1: "goal match team score league", 2: "stock bank price market"}
sentences = [f"the {w} is here {i}" for i in range(8) for w in
             (words[0].split()[i % 5], words[1].split()[i % 5], words[2].split()[i % 4])]
labels = np.array([0, 1, 2] * 8)
result["listed"] = [name in getattr(keras_hub.models, task).presets for task, name in (
    ("ImageClassifier", "efficientnet_b0_ra_imagenet"), ("ObjectDetector", "retinanet_resnet50_fpn_coco"),
    ("ImageSegmenter", "deeplab_v3_plus_resnet50_pascalvoc"), ("TextClassifier", "bert_tiny_en_uncased"))]

def classifier():
    model = keras_hub.models.ImageClassifier.from_preset("efficientnet_b0_ra_imagenet", **kwargs)
    probs = model.predict(images[:1], verbose=0)
    result["classifier"] = [type(model).__name__, list(probs.shape), float(probs.sum())]

def encoder():
    model = keras_hub.models.BertBackbone.from_preset("hf://sentence-transformers/all-MiniLM-L6-v2", **kwargs)
    result["encoder"] = [type(model).__name__, model.count_params(), model.num_layers, model.hidden_dim]

def detector():
    model = keras_hub.models.ObjectDetector.from_preset("retinanet_resnet50_fpn_coco", **kwargs)
    out = model.predict(photo[None].astype("float32"), verbose=0)
    result["detector"] = [type(model).__name__, {k: list(np.shape(v)) for k, v in sorted(out.items())}]

def segmenter():
    model = keras_hub.models.ImageSegmenter.from_preset("deeplab_v3_plus_resnet50_pascalvoc", **kwargs)
    out = model.predict(photo[None].astype("float32"), verbose=0)
    result["segmenter"] = [type(model).__name__, list(out.shape)]

def text_classifier():
    model = keras_hub.models.TextClassifier.from_preset("bert_tiny_en_uncased", num_classes=3, **kwargs)
    history = model.fit(x=sentences, y=labels, epochs=5, batch_size=8, verbose=0)
    scores = model.evaluate(x=sentences[:6], y=labels[:6], verbose=0)
    result["text_classifier"] = [type(model).__name__, len(history.history["loss"]),
                                 [float(s) for s in scores]]

for name, function in [("classifier", classifier), ("encoder", encoder), ("detector", detector),
                       ("segmenter", segmenter), ("text_classifier", text_classifier)]:
    timed(name, function)
result["attempts"] = attempts
result["times"] = times
print("RESULT " + json.dumps(result))
"""


def run_calls(env: dict[str, str], *args: str) -> dict:
    """Run CALLS in a fresh interpreter with ``env`` added; return its RESULT dictionary."""
    child_env = {**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "3",
                 # belt and braces: a request that got past the audit hook would hit a dead proxy
                 "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                 "NO_PROXY": ""}
    done = subprocess.run([sys.executable, "-c", CALLS, *args], env=child_env, capture_output=True,
                          text=True, timeout=300, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_lesson06_online_calls_load_the_standins_offline(tmp_path: Path) -> None:
    start = time.perf_counter()
    env = standins_hub.build(tmp_path / "hubs")
    build_s = time.perf_counter() - start
    assert set(env) == {"KAGGLEHUB_CACHE", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE"}

    result = run_calls(env)
    print(f"build {build_s:.1f} s; calls {result['times']}")
    errors = {key: value for key, value in result.items() if key.endswith("_error")}
    assert not errors, errors
    # The guard works: an empty cache means a network attempt, refused and seen.
    assert result["empty_cache"] != "loaded" and result["empty_cache_attempts"] > 0, result
    # With the stand-ins, not one connection or name lookup.
    assert result["attempts"] == [], result["attempts"]
    assert result["listed"] == [True] * 4

    name, shape, total = result["classifier"]
    assert name == "EfficientNetImageClassifier" and shape == [1, 1000]
    assert total == pytest.approx(1.0, abs=1e-3)  # softmax probabilities over ImageNet's classes
    # The real all-MiniLM-L6-v2 weights: 6 layers, 384 wide, 22.7 M parameters.
    assert result["encoder"] == ["BertBackbone", 22_713_216, 6, 384]
    name, shapes = result["detector"]
    assert name == "RetinaNetObjectDetector"
    assert shapes == {"boxes": [1, 100, 4], "confidence": [1, 100], "labels": [1, 100],
                      "num_detections": [1]}
    name, shape = result["segmenter"]
    assert name == "DeepLabV3ImageSegmenter"
    assert shape[0] == 1 and shape[-1] == 21  # VOC's 21 classes per pixel
    name, epochs, (loss, accuracy) = result["text_classifier"]
    assert name == "BertTextClassifier" and epochs == 5
    assert 0 < loss < 10 and 0 <= accuracy <= 1
