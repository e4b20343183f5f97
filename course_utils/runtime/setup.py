"""``setup_notebook()``: the one call at the top of every lesson and exercise."""

from __future__ import annotations

import os
import random

from . import env
from .tf import quiet_tensorflow

__all__ = ["setup_notebook", "seed_everything"]


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``)."""
    import keras

    random.seed(seed)
    keras.utils.set_random_seed(seed)


def setup_notebook(profile: str | None = None, seed: int = 42, report: bool = True) -> env.Profile:
    """Prepare a notebook: quiet logs, seed, plot style, the environment report, the profile.

    Safe to call more than once. It leaves Keras's dtype policy alone: lesson 4 turns on mixed
    precision itself, in plain Keras, where the profile asks for it and a GPU is present (a
    global policy would also reach models that meet float32 data: SavedModels, LiteRT exports,
    keras-hub presets).

    Args:
        profile: ``"full"``, ``"cpu"``, ``"offline"`` or None/``"auto"`` (see
            :func:`course_utils.env.select_profile`).
        seed: random seed for Python, NumPy and TensorFlow.
        report: print the environment report.

    Returns:
        The active :class:`course_utils.env.Profile`.

    Raises:
        ValueError: for an unknown profile name.
    """
    chosen, reason = env.choose_profile(profile)
    os.environ["COURSE_PROFILE"] = chosen.name  # helpers and subprocesses see the same choice
    quiet_tensorflow()
    seed_everything(seed)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.figsize": (8, 4.5), "figure.dpi": 100, "axes.grid": True,
                         "grid.alpha": 0.3, "axes.spines.top": False,
                         "axes.spines.right": False})
    if report:
        from . import doctor

        print(doctor.report(doctor.checks((chosen, reason))))
    return chosen
