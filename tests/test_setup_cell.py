"""The notebooks' setup cell: what it installs on Colab, and that running it again does nothing.

Cheap checks of the generated cell's logic with a fake ``%pip`` (in memory). The real install, in a
fresh environment with Colab's versions from a stand-in of this repository at the release tag, is
``make test-colab`` (``colab/setup_cell.py``).
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ADDRESS = PROJECT["urls"]["Repository"].rstrip("/")
TAG = f"v{PROJECT['version']}"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup_cell = _load("setup_cell", ROOT / "colab" / "setup_cell.py")
navigation = _load("navigation", ROOT / "scripts" / "navigation.py")
SOURCE = navigation.setup_source(*navigation.project_info())


class FakePip:
    """Serves ``%pip``: records each line; after an install, ``course_utils`` can be found."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, installed: bool = False):
        self.installed = installed
        self.lines: list[str] = []
        real = importlib.util.find_spec

        def find_spec(name, *args):
            if name == "course_utils":
                return object() if self.installed else None
            return real(name, *args)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    def __call__(self, magic: str, line: str) -> None:
        assert magic == "pip", f"the setup cell runs %{magic}, only %pip is expected"
        self.lines.append(line)
        self.installed = True


def _requirements(line: str) -> list[str]:
    """The requirements of a ``pip install ...`` line (its words that are not options)."""
    words = shlex.split(line)
    assert words[0] == "install", line
    return [word for word in words[1:] if not word.startswith("-")]


def test_the_cell_installs_the_course_at_the_release_tag():
    """The course comes from the one address in pyproject.toml at tag v<version>; the weight
    wheels are the pins of requirements-nodeps.txt, without their dependencies."""
    course_line, wheels_line = [line.strip().removeprefix("%pip ") for line in SOURCE.splitlines()
                                if line.strip().startswith("%pip")]
    requirement = Requirement(_requirements(course_line)[0])
    assert requirement.name == PROJECT["name"]
    assert requirement.url == f"git+{ADDRESS}@{TAG}"
    assert "--no-deps" in wheels_line.split()
    nodeps = [line.split("#")[0].strip() for line in
              (ROOT / "requirements-nodeps.txt").read_text().splitlines() if line.split("#")[0].strip()]
    assert sorted(_requirements(wheels_line)) == sorted(nodeps)


def test_on_colab_the_first_run_installs_and_the_second_does_nothing(monkeypatch):
    pip = FakePip(monkeypatch)
    with setup_cell.simulated_colab():
        first = setup_cell.run_cell(SOURCE, pip)
        second = setup_cell.run_cell(SOURCE, pip)
    assert len(first) == 2 and all(line.startswith("pip install") for line in first)
    assert second == []


def test_after_a_kernel_restart_nothing_is_installed_again(monkeypatch):
    """A restarted Colab runtime keeps its packages: the cell finds the course and skips pip."""
    pip = FakePip(monkeypatch, installed=True)
    with setup_cell.simulated_colab():
        assert setup_cell.run_cell(SOURCE, pip) == []


def test_outside_colab_the_cell_installs_nothing(monkeypatch):
    pip = FakePip(monkeypatch)
    assert "google.colab" not in sys.modules
    assert setup_cell.run_cell(SOURCE, pip) == []


def test_git_fetches_the_address_from_the_local_stand_in(tmp_path):
    """The redirect ``make test-colab`` uses: the GitHub address resolves to the stand-in's tag."""
    standin = setup_cell.make_standin(tmp_path / "standin", TAG)
    with setup_cell.git_redirect(ADDRESS, standin):
        listed = subprocess.run(["git", "ls-remote", "--tags", ADDRESS], capture_output=True,
                                text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip().endswith(f"refs/tags/{TAG}")
    files = subprocess.run(["git", "-C", str(standin), "ls-files"], capture_output=True,
                           text=True).stdout.split()
    assert "pyproject.toml" in files and "course_utils/__init__.py" in files
    assert not [f for f in files if f.startswith((".venv", "build/"))]
