"""Where pretrained weights come from: the source records, the resolver and the ``.pth`` reader.

``course_utils.weights.resolve`` (and every public name of :mod:`course_utils.weights.store`) is
forwarded to the store on first use, so importing ``course_utils.weights.sources`` alone does not
import the store (which reads the backbone registry).
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    store = importlib.import_module(".store", __name__)
    if name in store.__all__:
        return getattr(store, name)
    raise AttributeError(f"module 'course_utils.weights' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*importlib.import_module(".store", __name__).__all__, "resolver", "sources",
                   "store", "torch_pickle"])
