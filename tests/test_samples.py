"""Tests for course_utils.samples: bundled photos load offline, as RGB, at the asked size."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from course_utils import samples


@pytest.fixture
def no_network(monkeypatch):
    """Make any socket connection fail, so a sample that downloads would raise."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_required_samples_present_with_imagenet_classes():
    assert {"chelsea", "coffee"} <= set(samples.names())
    assert set(samples.SAMPLES["chelsea"].expected_classes) == {281, 282, 283, 284, 285}
    assert 967 in samples.SAMPLES["coffee"].expected_classes
    for sample in samples.SAMPLES.values():
        assert sample.expected_classes, sample.name
        assert all(0 <= index < 1000 for index in sample.expected_classes)
        assert sample.licence and sample.source and sample.label


@pytest.mark.parametrize("name", samples.names())
def test_load_offline_gives_rgb_uint8(name, no_network):
    image = samples.load(name)
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[-1] == 3
    assert min(image.shape[:2]) >= 256
    assert image.std() > 10  # a real photo, not a blank


def test_grayscale_sample_becomes_three_equal_channels():
    image = samples.load("camera")
    assert np.array_equal(image[..., 0], image[..., 1])
    assert np.array_equal(image[..., 1], image[..., 2])


def test_resize_crops_the_centre_square():
    full = samples.load("coffee")  # 400 x 600
    cropped = samples.load("coffee", size=400)
    squeezed = samples.load("coffee", size=400, crop=False)
    assert cropped.shape == squeezed.shape == (400, 400, 3)
    # with crop=True and size == the short side, the result is exactly the centre square
    assert np.array_equal(cropped, full[:, 100:500])
    assert not np.array_equal(squeezed, cropped)


def test_batch_shapes_order_and_range():
    images = samples.batch(["coffee", "chelsea"], size=32)
    assert images.shape == (2, 32, 32, 3)
    assert images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 255
    assert np.array_equal(images[1], samples.load("chelsea", 32).astype(np.float32))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: samples.load("dog"), "unknown sample"),
        (lambda: samples.load("chelsea", size=0), "size"),
        (lambda: samples.batch([]), "empty"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
