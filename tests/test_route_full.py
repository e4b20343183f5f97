"""Every lesson runs in the ``full`` profile (Colab's GPU route) with the network replaced by
local stand-ins (``tests/online_routes.py``) and a simulated GPU, so lesson 4 trains under
``mixed_float16`` (on the CPU): MobileNetV2 at 224 px on a small flowers-like archive.
Claims report instead of failing here (random weights); any exception fails."""

from __future__ import annotations

import online_routes
import pytest
from notebook_rules import LESSONS

PROFILE = "full"


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    return online_routes.build(tmp_path_factory.mktemp("standins"), gpu=True)


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_runs_in_the_full_route(lesson, standins):
    online_routes.check(lesson, PROFILE, standins)
