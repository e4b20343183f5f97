"""Shared fixtures: every test runs offline, on the CPU, with TensorFlow quiet."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(scope="session")
def lite0_home(tmp_path_factory):
    """A Keras cache (``KERAS_HOME``) holding the converted EfficientNet-Lite0 weights.

    The conversion runs once per test session; ``KERAS_HOME`` stays pointed there for the rest
    of the session so no test writes to the real ``~/.keras``.
    """
    from course_utils import lite0

    home = tmp_path_factory.mktemp("keras_home")
    saved = os.environ.get("KERAS_HOME")
    os.environ["KERAS_HOME"] = str(home)
    lite0.converted_weights(include_top=True)
    yield home
    if saved is None:
        os.environ.pop("KERAS_HOME", None)
    else:
        os.environ["KERAS_HOME"] = saved
