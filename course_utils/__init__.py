"""Helpers shared by the lessons, the exercises and the ``course`` command line.

Importing this package does nothing but define names: submodules (``course_utils.plots``,
``course_utils.backbones`` ...) are imported the first time they are used, so ``import
course_utils`` is instant and TensorFlow is only loaded when a helper needs it. A notebook calls
:func:`setup_notebook` once to seed, silence logs, style plots and print the environment report.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

SUBMODULES = (
    "audio",
    "backbones",
    "bench",
    "checks",
    "claims",
    "datasets",
    "doctor",
    "env",
    "errors",
    "features",
    "grading",
    "imagenet",
    "inference",
    "keras_internals",
    "lite0",
    "plots",
    "samples",
    "setup",
    "text",
    "textures",
    "torch_pickle",
    "training",
    "weight_files",
    "weights",
    "widgets",
)

__all__ = ["setup_notebook", "__version__", *SUBMODULES]

if TYPE_CHECKING:  # pragma: no cover
    from .setup import setup_notebook


def __getattr__(name: str) -> Any:
    if name == "setup_notebook":
        from .setup import setup_notebook

        return setup_notebook
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
