"""Profile selection and environment detection."""

from __future__ import annotations

import dataclasses

import pytest

import course_utils
from course_utils import env


def test_import_is_lazy_and_side_effect_free():
    """Importing the package must not import TensorFlow or matplotlib (STYLE rule 3)."""
    import subprocess
    import sys

    code = ("import sys, course_utils; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError):
        course_utils.no_such_module  # noqa: B018


@pytest.mark.parametrize("name", ["full", "cpu", "offline", " Offline "])
def test_select_profile_by_name(name):
    assert env.select_profile(name).name == name.strip().lower()


def test_select_profile_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    assert env.select_profile().name == "cpu"
    assert env.select_profile("full").name == "full"  # the argument wins


def test_auto_profile_is_offline_without_network(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    env.has_internet.cache_clear()
    try:
        assert env.select_profile("auto").name == "offline"
    finally:
        env.has_internet.cache_clear()


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="full, cpu, offline"):
        env.select_profile("gpu")


def test_profiles_are_frozen_and_ordered_by_cost():
    offline, cpu, full = (env.PROFILES[n] for n in ("offline", "cpu", "full"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        offline.epochs = 100
    assert offline.image_size < cpu.image_size <= full.image_size
    assert offline.weights == "offline" and full.weights == "imagenet"
    assert full.mixed_precision and not cpu.mixed_precision


@pytest.mark.parametrize("parameter", ["auto", "AUTO", None, ""])
def test_course_profile_wins_over_an_automatic_parameter(monkeypatch, parameter):
    """A notebook's default ``PROFILE = "auto"`` must not hide ``COURSE_PROFILE`` (README)."""
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    monkeypatch.setenv("COURSE_OFFLINE", "1")  # automatic choice would say "offline"
    env.has_internet.cache_clear()
    try:
        assert env.select_profile(parameter).name == "cpu"
    finally:
        env.has_internet.cache_clear()


def test_course_profile_auto_still_detects(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "auto")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    env.has_internet.cache_clear()
    try:
        assert env.select_profile("auto").name == "offline"
    finally:
        env.has_internet.cache_clear()


def test_bad_course_profile_is_named(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "gpu")
    with pytest.raises(ValueError, match="'gpu'.*COURSE_PROFILE"):
        env.select_profile("auto")
    with pytest.raises(TypeError, match="profile must be a name"):
        env.select_profile(3)


def test_setup_notebook_leaves_the_dtype_policy_to_the_lesson(monkeypatch, capsys):
    """Even in `full` on a GPU, setup_notebook keeps float32: only lesson 4 turns on
    mixed_float16 (a global policy broke SavedModels, LiteRT exports and keras-hub in lesson 6)."""
    import keras

    from course_utils import setup_notebook

    # empty means unset; setenv (not delenv) so that the value the code under test
    # writes into os.environ is removed again afterwards
    monkeypatch.setenv("COURSE_PROFILE", "")
    monkeypatch.setattr(env, "gpu_names", lambda: ["/physical_device:GPU:0"])
    assert setup_notebook("full", report=False).mixed_precision
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize(("parameter", "variable", "expected"), [
    ("auto", None, "offline (chosen from the machine: no network)"),
    ("auto", "cpu", "cpu (set by COURSE_PROFILE)"),
    ("offline", "cpu", "offline (set by the PROFILE parameter)"),
])
def test_the_lessons_report_says_why_its_profile_was_chosen(parameter, variable, expected,
                                                           monkeypatch, capsys):
    from course_utils import setup_notebook

    if variable is None:
        # empty means unset; setenv (not delenv) so that the value the code under test
        # writes into os.environ is removed again afterwards
        monkeypatch.setenv("COURSE_PROFILE", "")
    else:
        monkeypatch.setenv("COURSE_PROFILE", variable)
    monkeypatch.setattr(env, "has_internet", lambda: False)
    setup_notebook(parameter)
    report = " ".join(capsys.readouterr().out.split())
    assert f"Profile {expected}" in report
