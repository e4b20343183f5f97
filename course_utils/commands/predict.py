"""``course predict IMAGE...``: the top ImageNet classes of photos, with any registry backbone.

Without ``--model`` the best model whose ImageNet weights are already on this machine is used:
the registry backbone with the highest published top-1 among those with a classifier file in the
Keras cache or ``$COURSE_WEIGHTS_DIR``, else ``efficientnet_lite0`` (always available: its weights
come from an installed package). Images at the model's input size are used as they are; others are
resized (bilinear). A bad image is reported on stderr and the others are still answered; the exit
status is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "print the top ImageNet classes of images (default model: the best available offline)"
NEEDS_TENSORFLOW = True
FALLBACK_MODEL = "efficientnet_lite0"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG ...)")
    parser.add_argument("--model", help="registry backbone (see 'course backbones'); "
                                        "default: the best one available offline")
    parser.add_argument("--top", type=int, default=5, help="classes per image (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def default_model() -> str:
    """The registry backbone with the best top-1 whose classifier weights are on this machine."""
    from course_utils import backbones, weights

    local = {w.name for w in weights.available_offline() if w.include_top}
    local.add(FALLBACK_MODEL)
    return max(local, key=lambda name: backbones.get(name).top1)


def _load(path: str, size: int):
    """Return the image as a (size, size, 3) uint8 array, or raise ValueError with the problem."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    file = Path(path)
    if not file.exists():
        raise ValueError("no such file")
    if not file.is_file():
        raise ValueError("not a file")
    try:
        with Image.open(file) as img:
            img.load()
            rgb = img.convert("RGB")
    except UnidentifiedImageError:
        raise ValueError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"corrupt or truncated image ({exc})") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from course_utils import backbones, imagenet
    from course_utils.errors import UsageError

    if not 1 <= args.top <= 1000:
        raise UsageError(f"--top must be from 1 to 1000, not {args.top}")
    entry = backbones.get(args.model) if args.model else backbones.get(default_model())
    status, images, arrays = 0, [], []
    for path in args.images:
        try:
            arrays.append(_load(path, entry.input_size))
            images.append(path)
        except ValueError as exc:
            print(f"course predict: {path}: {exc}", file=sys.stderr)
            status = 2
    if not images:
        return status
    model = backbones.build(entry.name, weights="imagenet", include_top=True)
    batch = entry.preprocess_input(np.stack(arrays).astype("float32"))
    decoded = imagenet.decode(model.predict(batch, verbose=0), top=args.top)
    if args.json:
        print(json.dumps([
            {"image": path, "model": entry.name,
             "predictions": [{"class_index": i, "label": label, "probability": p}
                             for i, label, p in top]}
            for path, top in zip(images, decoded, strict=True)
        ], indent=2))
    else:
        for path, top in zip(images, decoded, strict=True):
            print(f"{path} ({entry.name}):")
            for rank, (i, label, p) in enumerate(top, start=1):
                print(f"  {rank}. {label:<28} {p:7.2%}  (class {i})")
    return status
