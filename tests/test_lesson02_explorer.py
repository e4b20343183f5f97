"""Lesson 2's budget explorer, driven without a browser: the widget cell teaches, this tests it.

The cells that define ``within_budget`` and the explorer are run from the lesson itself on a
small made-up table, so the test follows the notebook's code, not a copy of it.
"""

from __future__ import annotations

import ipywidgets as widgets
import nbformat
import numpy as np
import pandas as pd
import pytest
from notebook_rules import ROOT

LESSON = ROOT / "notebooks" / "02_backbone_families.ipynb"


def _cell(marker: str) -> str:
    """The source of the one code cell of lesson 2 that contains ``marker``."""
    cells = [c.source for c in nbformat.read(LESSON, as_version=4).cells
             if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"expected one cell with {marker!r} in {LESSON.name}, found {len(cells)}"
    return cells[0]


@pytest.fixture
def explorer(capsys):
    """The lesson's explorer on three backbones; returns (namespace, captured-output reader)."""
    table = pd.DataFrame(
        {"params_m": [3.5, 25.6, 4.0], "latency_ms": [10.0, 40.0, np.nan],
         "top1": [0.713, 0.749, 0.771]},
        index=["small_fast", "big_slow", "untimed"])
    namespace = {"table": table, "pd": pd, "np": np, "widgets": widgets,
                 "display": lambda *args: None}
    exec(_cell("def within_budget("), namespace)  # the lesson's own code
    capsys.readouterr()
    exec(_cell("def show_budget("), namespace)
    return namespace, lambda: capsys.readouterr().out


def test_default_budget_picks_the_most_accurate_that_fits(explorer):
    namespace, output = explorer
    printed = output()
    # 10 M parameters, latency slider at its maximum (no limit): big_slow (25.6 M) is out,
    # untimed (no latency measured) stays in because there is no latency limit
    assert "best: untimed (77.1% top-1, 4.0 M params)" in printed
    assert "big_slow" not in printed.split("best:")[-1]


def test_sliders_filter_and_say_when_nothing_fits(explorer):
    namespace, output = explorer
    params, latency = namespace["explorer"].children[:2]
    output()
    latency.value = 20.0  # a latency limit: the untimed model has no number, so it drops out
    assert "best: small_fast" in output()
    params.value = 1.0  # 1 M parameters: nothing in the table is that small
    assert "nothing fits: raise a budget" in output()
    params.value = 100.0
    latency.value = latency.max  # both at the top: no limit at all, the most accurate wins
    assert "best: untimed" in output()


def test_slider_labels_are_shown_whole(explorer):
    """The labels ("params (M) <=", "latency (ms) <=") are wider than the default label width."""
    namespace, _ = explorer
    for slider in namespace["explorer"].children[:2]:
        assert slider.style.description_width == "initial", slider.description
        assert slider.description.endswith("<=")
