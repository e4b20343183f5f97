"""Reference outputs of the PyTorch EfficientNet-Lite0, shared by the Lite0 and CLI tests.

Reference top-5 (ImageNet index, probability) from the PyTorch original, computed outside the
course environment: torch 2.13.0+cpu with efficientnet-lite-pytorch 0.1.0 (PyPI),
EfficientNet.from_name("efficientnet-lite0") + load_state_dict(strict=True) of the same .pth
file, eval mode, softmax; inputs: scikit-image 0.26 `data.chelsea()` / `data.coffee()` resized to
224x224 with Pillow 13.0 `Image.resize(..., Image.BILINEAR)`, then (x - 127) / 128.
"""

from __future__ import annotations

import numpy as np

REFERENCE_TOP5 = {
    "chelsea": [(285, 0.791172), (282, 0.088482), (281, 0.071235), (287, 0.010451),
                (728, 0.001277)],
    "coffee": [(967, 0.89941), (968, 0.030931), (504, 0.013136), (925, 0.012422),
               (809, 0.003595)],
}
TOLERANCE = 2e-3


def reference_image(name: str) -> np.ndarray:
    """The 224x224 uint8 input the reference numbers were computed on."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(getattr(data, name)()).resize((224, 224), Image.BILINEAR))
