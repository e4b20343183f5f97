"""Silero VAD through onnxruntime on the course's shipped speech sample."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from course_utils import audio
from course_utils.errors import CourseError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec(audio.PACKAGE) is None, reason="silero-vad not installed"
)

SPEECH_START, SPEECH_END = 1.0, 4.17  # seconds, where the synthesiser speaks in the sample


@pytest.fixture(scope="module")
def sample():
    return audio.speech_sample()


@pytest.fixture(scope="module")
def probabilities(sample):
    waveform, sample_rate = sample
    return audio.speech_probabilities(waveform, sample_rate)


def test_sample_is_short_mono_16k(sample):
    waveform, sample_rate = sample
    assert sample_rate == 16000
    assert waveform.ndim == 1 and waveform.dtype == np.float32
    assert 4.5 < len(waveform) / sample_rate < 6.0
    assert np.abs(waveform).max() <= 1.0
    assert audio.SAMPLE_FILE.stat().st_size < 200_000


def test_one_probability_per_512_samples(sample, probabilities):
    waveform, _ = sample
    assert probabilities.shape == (-(-len(waveform) // 512),)
    assert probabilities.dtype == np.float32
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_speech_in_the_middle_not_in_the_silence(probabilities):
    seconds = 512 / 16000
    times = np.arange(len(probabilities)) * seconds
    leading = probabilities[times + seconds < SPEECH_START - 0.05]
    trailing = probabilities[times > SPEECH_END + 0.3]
    middle = probabilities[(times > SPEECH_START + 0.3) & (times < SPEECH_END - 0.3)]
    assert leading.max() < 0.2
    assert trailing.max() < 0.2
    assert np.median(middle) > 0.5


def test_speech_segments_cover_the_spoken_part(probabilities):
    segments = audio.speech_segments(probabilities, 16000)
    assert len(segments) == 1
    start, end = segments[0]
    assert start == pytest.approx(SPEECH_START, abs=0.15)
    assert end == pytest.approx(SPEECH_END, abs=0.25)


def test_state_is_carried_between_chunks(sample, probabilities):
    """Running a second half on its own (fresh state) differs from the continuous run."""
    waveform, _ = sample
    half = 512 * 64
    alone = audio.speech_probabilities(waveform[half:])
    assert not np.allclose(alone[:5], probabilities[64:69], atol=1e-4)


def test_8k_audio_gives_256_sample_chunks(sample):
    waveform, _ = sample
    at_8k = waveform[::2]
    probs = audio.speech_probabilities(at_8k, 8000)
    assert probs.shape == (-(-len(at_8k) // 256),)
    assert probs[: int(0.9 * 8000 / 256)].max() < 0.2
    assert probs.max() > 0.5


def test_int16_input_is_scaled(sample, probabilities):
    waveform, _ = sample
    as_int16 = np.round(waveform * 32768).clip(-32768, 32767).astype(np.int16)
    np.testing.assert_allclose(audio.speech_probabilities(as_int16), probabilities, atol=1e-3)


@pytest.mark.parametrize("sample_rate", [44100, 22050, 16001])
def test_wrong_sample_rate_raises(sample_rate):
    with pytest.raises(ValueError, match="8000 or 16000"):
        audio.speech_probabilities(np.zeros(1024, dtype=np.float32), sample_rate)


@pytest.mark.parametrize("waveform", [np.zeros(0), np.zeros((2, 1024))])
def test_empty_or_stereo_waveform_raises(waveform):
    with pytest.raises(ValueError, match="1-D"):
        audio.speech_probabilities(waveform)


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CourseError, match="pip install --no-deps silero-vad"):
        audio.model_path()
