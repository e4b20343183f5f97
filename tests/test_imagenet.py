"""ImageNet class names (offline, from keras-hub) and decoding of 1000/1001-class outputs."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import imagenet


def test_class_names_are_the_ilsvrc_order():
    names = imagenet.class_names()
    assert len(names) == 1000 and len(set(names)) >= 998  # two names repeat in ImageNet-1k
    assert names[0] == "tench" and names[967] == "espresso" and names[999] == "toilet_tissue"
    assert names[281] == "tabby"


def _probs(width: int, hot: dict[int, float]) -> np.ndarray:
    row = np.full(width, 1e-6, dtype="float32")
    for index, value in hot.items():
        row[index] = value
    return row


def test_decode_1000_classes_sorted():
    probs = np.stack([_probs(1000, {967: 0.7, 968: 0.2, 504: 0.05}),
                      _probs(1000, {285: 0.5, 281: 0.4})])
    decoded = imagenet.decode(probs, top=3)
    assert [i for i, _, _ in decoded[0]] == [967, 968, 504]
    assert decoded[0][0][1] == "espresso"
    assert decoded[0][0][2] == pytest.approx(0.7)
    assert [i for i, _, _ in decoded[1][:2]] == [285, 281]


def test_decode_1001_classes_drops_background():
    """Index 0 of a 1001-wide output is 'background'; class k sits at k + 1."""
    probs = _probs(1001, {0: 0.9, 968: 0.08})  # background, then espresso (967 + 1)
    decoded = imagenet.decode(probs[None], top=1)
    assert decoded == [[(967, "espresso", pytest.approx(0.08))]]


def test_decode_accepts_one_row_and_tensors():
    import keras

    row = _probs(1000, {1: 0.9})
    assert imagenet.decode(row, top=1)[0][0][:2] == (1, "goldfish")
    assert imagenet.decode(keras.ops.convert_to_tensor(row[None]), top=1)[0][0][0] == 1


@pytest.mark.parametrize("shape", [(2, 10), (2, 999), (1, 2, 1000), ()])
def test_decode_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match="shape"):
        imagenet.decode(np.zeros(shape))


@pytest.mark.parametrize("top", [0, 1001, 2.5])
def test_decode_rejects_bad_top(top):
    with pytest.raises(ValueError, match="top"):
        imagenet.decode(np.zeros((1, 1000)), top=top)
