"""Helpers shared by the lessons, the exercises and the ``course`` command line.

Importing this package does nothing but define names: modules are imported the first time they are
used, so ``import course_utils`` is instant and TensorFlow is only loaded when a helper needs it. A
notebook calls :func:`setup_notebook` once to seed, silence logs, style plots and print the
environment report.

The code lives in subpackages that show its layers (CONTRIBUTING.md, "Architecture"); the short
names the notebooks use (``course_utils.backbones.build``, ``course_utils.plots.history``, ...)
are the façade below, an alias table from a short name to the module that holds it.
``from course_utils import backbones`` works too; ``import course_utils.backbones`` does not
(import the module by its real path, ``course_utils.models.backbones``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

DISTRIBUTION = "pretrained-course"
"""The name this package is installed under; its version (pyproject.toml) is ``__version__``."""

# Short name (what notebooks, solutions and the CLI write) -> module under course_utils.
ALIASES = {
    # runtime: where we run, the profile, setup_notebook
    "env": "runtime.env",
    "doctor": "runtime.doctor",
    "setup": "runtime.setup",
    "keras_internals": "runtime.keras_internals",
    # weights: where pretrained weights come from
    "weights": "weights",  # the package forwards to weights.store
    "weight_files": "weights.sources",
    "torch_pickle": "weights.torch_pickle",
    # models: what a pretrained model is
    "backbones": "models.backbones",
    "lite0": "models.lite0",
    "imagenet": "models.imagenet",
    "inference": "models.inference",
    "text": "models.text",
    "audio": "models.audio",
    # data: datasets as folders of files
    "datasets": "data.datasets",
    "samples": "data.samples",
    "textures": "data.textures",
    # lesson: helpers a lesson calls around its own code
    "features": "lesson.features",
    "training": "lesson.training",
    "plots": "lesson.plots",
    "widgets": "lesson.widgets",
    "claims": "lesson.claims",
    # the rest keep their own names
    "checks": "checks",
    "errors": "errors",
    "grading": "grading",
    "bench": "bench",
}

SUBMODULES = tuple(ALIASES)

__all__ = ["setup_notebook", "__version__", *SUBMODULES]

if TYPE_CHECKING:  # pragma: no cover
    from .runtime.setup import setup_notebook


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one source: pyproject.toml, as installed
        from importlib import metadata

        return metadata.version(DISTRIBUTION)
    if name == "setup_notebook":
        from .runtime.setup import setup_notebook

        return setup_notebook
    if name in ALIASES:
        return importlib.import_module(f".{ALIASES[name]}", __name__)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
