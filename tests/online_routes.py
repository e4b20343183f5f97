"""The lessons' online routes (``full`` on Colab's GPU, ``cpu``) with the network replaced.

Used by ``tests/test_route_full.py`` and ``tests/test_route_cpu.py``. :func:`build` makes local
stand-ins for everything those routes download, with random weights (the numbers mean nothing;
every line of code that reads them runs):

* keras.applications MobileNetV2 weights, built with ``weights=None`` and written in the legacy
  ``.h5`` layout Keras downloads, under the names Keras asks for (every input size it publishes);
* ``imagenet_class_index.json`` (what ``decode_predictions`` downloads), from keras-hub's names;
* a small flowers-like archive (5 classes of generated photos) as ``flower_photos.tgz``;
* keras-hub presets for lesson 6's online cells (:mod:`standins_hub`).

The kernel that runs a lesson loads an IPython startup file (``IPYTHONDIR``) that does what only a
test may do, never the course's code path for users: ``has_internet`` answers yes, the flowers
entry of the data table carries the stand-in archive's SHA-256, Keras's ``validate_file`` accepts
the stand-in files by their SHA-256, and, for ``full``, ``gpu_names`` reports one GPU so that
lesson 4 trains under ``mixed_float16`` as on Colab (on the CPU). Nothing else is faked: a
download that no stand-in answers fails, and so does the lesson.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import standins_hub
from notebook_rules import ROOT

from course_utils import bench

BUILD = ROOT / "build" / "routes"
FLOWER_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")
PHOTOS_PER_CLASS = 8  # split 5 / 1 / 2 per class by course_utils.datasets.split_flowers
# Smaller runs than a student's, so both routes fit in CI: papermill parameters per lesson.
PARAMETERS = {
    "02_backbone_families.ipynb": {"LATENCY_REPEATS": 2, "EFFICIENTNETS_BUILT": ["B0", "B1"]},
    "03_feature_extraction.ipynb": {"EPOCHS": 2},
    "04_fine_tuning.ipynb": {"EPOCHS": 2, "FINE_TUNE_EPOCHS": 1},
}
CELL_TIMEOUT = 600
NOTEBOOK_TIMEOUT = 1500

STARTUP = '''\
"""Test-only (tests/online_routes.py): the network replaced by local stand-ins."""
import dataclasses as _dataclasses
import hashlib as _hashlib
import json as _json
import os as _os

from course_utils.data import datasets as _datasets
from course_utils.runtime import env as _env
from keras.src.utils import file_utils as _file_utils

_ACCEPTED = set(_json.loads(open(_os.environ["COURSE_STANDIN_HASHES"]).read()))
_env.has_internet = lambda timeout=1.5: True
if _os.environ.get("COURSE_STANDIN_GPU") == "1":
    _env.gpu_names = lambda: ["/physical_device:GPU:0 (simulated by tests/online_routes.py)"]
_datasets.DATASETS["flowers"] = _dataclasses.replace(
    _datasets.DATASETS["flowers"], sha256=_os.environ["COURSE_STANDIN_FLOWERS_SHA256"])
_keras_validate = _file_utils.validate_file


def _validate(fpath, file_hash, algorithm="auto", chunk_size=65535):
    with open(fpath, "rb") as f:
        if _hashlib.file_digest(f, "sha256").hexdigest() in _ACCEPTED:
            return True
    return _keras_validate(fpath, file_hash, algorithm, chunk_size)


_file_utils.validate_file = _validate
'''


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _weights(models: Path) -> list[Path]:
    """MobileNetV2's random weights under every file name Keras downloads for it."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format  # the layout of Keras's .h5 downloads

    from course_utils import backbones

    written = []
    source = backbones.get("mobilenet_v2").weights
    for include_top in (True, False):
        model = keras.applications.MobileNetV2(weights=None, include_top=include_top)
        first = models / source.file(include_top, 224).name
        with h5py.File(first, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        written.append(first)
        for size in source.sizes:  # the weights' shapes do not depend on the input size
            path = models / source.file(include_top, size).name
            if path != first:
                shutil.copyfile(first, path)
                written.append(path)
    return written


def _class_index(models: Path) -> Path:
    """``imagenet_class_index.json`` as Keras downloads it: index -> [WordNet id, name]."""
    from course_utils import imagenet

    path = models / "imagenet_class_index.json"
    path.write_text(json.dumps({str(i): [f"n{i:08d}", name]
                                for i, name in enumerate(imagenet.class_names())}))
    return path


def _flowers(data: Path) -> Path:
    """``flower_photos.tgz``: 5 classes of generated 240x180 JPEG photos, each class its hue."""
    from PIL import Image

    rng = np.random.default_rng(0)
    archive = data / "flower_photos.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for index, name in enumerate(FLOWER_CLASSES):
            for photo in range(PHOTOS_PER_CLASS):
                colour = np.array([255 * (index == c % 5) for c in range(3)]) * 0.6 + 40 * index
                pixels = np.clip(colour + rng.normal(0, 40, (180, 240, 3)), 0, 255)
                buffer = io.BytesIO()
                Image.fromarray(pixels.astype("uint8")).save(buffer, format="JPEG")
                info = tarfile.TarInfo(f"flower_photos/{name}/{name}_{photo}.jpg")
                info.size = buffer.getbuffer().nbytes
                buffer.seek(0)
                tar.addfile(info, buffer)
        licence = b"Stand-in photos generated by tests/online_routes.py\n"
        info = tarfile.TarInfo("flower_photos/LICENSE.txt")
        info.size = len(licence)
        tar.addfile(info, io.BytesIO(licence))
    return archive


def build(folder: Path, gpu: bool) -> dict[str, str]:
    """Build every stand-in under ``folder``; return the environment a lesson run needs.

    Args:
        folder: an empty folder (caches, archives, the IPython startup file go inside).
        gpu: make ``course_utils.env.gpu_names`` report a GPU in the kernel (the ``full`` route
            as on Colab: lesson 4 trains under ``mixed_float16``).

    Returns:
        Environment variables: private Keras and course caches holding the stand-ins,
        ``IPYTHONDIR`` with the startup file, and those of :func:`standins_hub.build`.
    """
    env = {"KERAS_HOME": folder / "keras", "COURSE_DATA_DIR": folder / "data",
           "COURSE_CACHE_DIR": folder / "cache", "IPYTHONDIR": folder / "ipython"}
    for path in env.values():
        path.mkdir(parents=True)
    models = env["KERAS_HOME"] / "models"
    models.mkdir()
    accepted = [*_weights(models), _class_index(models)]
    archive = _flowers(env["COURSE_DATA_DIR"])
    startup = env["IPYTHONDIR"] / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-course-standins.py").write_text(STARTUP)
    hashes = folder / "accepted-sha256.json"
    hashes.write_text(json.dumps(sorted({_sha256(path) for path in accepted})))
    result = {name: str(path) for name, path in env.items()}
    result.update(COURSE_STANDIN_HASHES=str(hashes), COURSE_STANDIN_FLOWERS_SHA256=_sha256(archive),
                  COURSE_STANDIN_GPU="1" if gpu else "0")
    result.update(standins_hub.build(folder / "hub"))
    return result


def run(lesson: Path, profile: str, env: dict[str, str]) -> tuple[str | None, float, list[str]]:
    """Run ``lesson`` in ``profile`` with the stand-ins' ``env``; claims report, not fail.

    Returns:
        ``(problem, seconds, notes)``: problem is None when every cell ran, else the notebook,
        the cell and the error's last lines; notes are the claims outside their bands (expected:
        the weights are random).
    """
    import time

    from test_lessons import _failed_cell

    out = BUILD / profile / lesson.name
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = bench.run_lesson(lesson, out, strict=False, cell_timeout=CELL_TIMEOUT,
                              timeout=NOTEBOOK_TIMEOUT, profile=profile,
                              parameters=PARAMETERS.get(lesson.name), env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-12:])
        return f"{lesson.name} ({profile}) failed in {_failed_cell(out)}:\n{tail}", seconds, []
    notes = [line.strip() for line in _outputs(out) if line.startswith("NOTE - ")]
    return None, seconds, notes


# Printed only when a lesson left its route: the profile's backbone or the network was missing.
LEFT_THE_ROUTE = ("using efficientnet_lite0 instead", "offline: would run", "no network: nothing")


def check(lesson: Path, profile: str, env: dict[str, str]) -> None:
    """Fail unless ``lesson`` runs without an exception on its route (claims only report).

    Also fails when the lesson fell back to an offline path (a stand-in was not found), or when
    lesson 4 did not train under the policy the route asks for (``full``: ``mixed_float16``).
    """
    import pytest

    problem, seconds, notes = run(lesson, profile, env)
    if problem:
        pytest.fail(problem)
    printed = "\n".join(_outputs(BUILD / profile / lesson.name))
    left = [marker for marker in LEFT_THE_ROUTE if marker in printed]
    assert not left, f"{lesson.name} ({profile}) took an offline path: {left}"
    if lesson.name.startswith("04_"):
        policy = "mixed_float16" if env["COURSE_STANDIN_GPU"] == "1" else "float32"
        assert f"dtype policy {policy}" in printed, f"lesson 4 did not train under {policy}"
    print(describe(profile, seconds, notes))


def _outputs(path: Path) -> list[str]:
    """Every line of text the executed notebook printed."""
    import nbformat

    lines = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            lines += (text if isinstance(text, str) else "".join(text)).splitlines()
    return lines


def describe(profile: str, seconds: float, notes: list[str]) -> str:
    """One report line per lesson (pytest -rA prints it): time and claims outside their bands."""
    return textwrap.shorten(f"{profile}: {seconds:.0f} s, {len(notes)} claim notes "
                            f"(random weights): {'; '.join(notes)}", 600)


__all__ = ["BUILD", "PARAMETERS", "build", "run", "check", "describe"]
