"""``course predict``: top-K ImageNet classes offline, per-image errors, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _reference import REFERENCE_TOP5, TOLERANCE, reference_image
from PIL import Image
from skimage import data

from course_utils import cli


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(reference_image("coffee")).save(folder / "coffee224.png")  # model size
    Image.fromarray(data.chelsea()).save(folder / "chelsea.jpg", quality=95)  # 300x451: resized
    (folder / "notes.txt").write_text("not an image")
    good = (folder / "chelsea.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(good[: len(good) // 3])
    return folder


def test_json_output(lite0_home, photos, capsys):
    """An image already at 224x224 is used as is: the probabilities are PyTorch's."""
    argv = ["predict", str(photos / "coffee224.png"), str(photos / "chelsea.jpg"),
            "--json", "--top", "3"]
    assert cli.main(argv) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in results] == argv[1:3]
    assert {r["model"] for r in results} == {"efficientnet_lite0"}
    coffee, chelsea = (r["predictions"] for r in results)
    assert [p["class_index"] for p in coffee] == [i for i, _ in REFERENCE_TOP5["coffee"][:3]]
    assert coffee[0]["label"] == "espresso"
    np.testing.assert_allclose([p["probability"] for p in coffee],
                               [p for _, p in REFERENCE_TOP5["coffee"][:3]], atol=TOLERANCE)
    assert 281 <= chelsea[0]["class_index"] <= 285
    probabilities = [p["probability"] for p in chelsea]
    assert probabilities == sorted(probabilities, reverse=True) and len(chelsea) == 3


def test_bad_images_reported_others_answered(lite0_home, photos, capsys):
    argv = ["predict", str(photos / "missing.jpg"), str(photos / "notes.txt"),
            str(photos / "broken.jpg"), str(photos / "coffee224.png")]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3 and "Traceback" not in captured.err
    assert "missing.jpg: no such file" in errors[0]
    assert "notes.txt: not an image" in errors[1]
    assert "broken.jpg: corrupt" in errors[2]
    assert "espresso" in captured.out and "coffee224.png (efficientnet_lite0)" in captured.out


def test_unknown_model_is_one_line(photos, capsys):
    assert cli.main(["predict", str(photos / "coffee224.png"), "--model", "alexnet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alexnet" in err and "efficientnet_lite0" in err


def test_installed_entry_point(lite0_home, photos):
    """The `course` script of the virtualenv, in a fresh process: JSON out, no traceback."""
    course = Path(sys.executable).with_name("course")
    environment = {**os.environ, "KERAS_HOME": str(lite0_home), "COURSE_OFFLINE": "1"}
    result = subprocess.run(
        [str(course), "predict", "--json", "--top", "1", str(photos / "coffee224.png"),
         str(photos / "missing.jpg")],
        capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)[0]["predictions"][0]["class_index"] == 967
    assert "missing.jpg: no such file" in result.stderr and "Traceback" not in result.stderr
