"""Voice activity detection with a pretrained audio model, offline.

The model is `Silero VAD <https://github.com/snakers4/silero-vad>`_ (MIT licence), a small
recurrent network that says, for every 32 ms of audio, how likely it is to be speech. Its ONNX
export ships in the PyPI package ``silero-vad`` and runs with onnxruntime on the CPU; the package's
own Python code needs torch, so this module only takes the ``.onnx`` file and feeds it the way the
package's ``OnnxWrapper`` does: chunks of 512 samples at 16 kHz (256 at 8 kHz), each preceded by
the last 64 (32) samples of the previous chunk, with the recurrent state carried from chunk to
chunk.

The speech sample ``data/speech_16k.wav`` (16 kHz, mono, 16-bit, 5.2 s) was made for this course
with the espeak-ng 1.51 synthesiser (voice en-us, 160 words a minute) saying "Pretrained models
learn new tasks from very little data.", resampled from 22.05 kHz, with 1 s of silence before and
after and faint Gaussian noise (standard deviation 20 of 32767) over the whole file. Speech runs
from about 1.0 s to 4.2 s. It is distributed under the licence of this repository.
"""

from __future__ import annotations

import functools
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..paths import package_file

__all__ = [
    "MODEL_FILE",
    "SAMPLE_FILE",
    "model_path",
    "load_vad",
    "read_wav",
    "speech_sample",
    "chunk_size",
    "speech_probabilities",
    "speech_segments",
]

PACKAGE = "silero_vad"
PIP_NAME = "silero-vad"
MODEL_FILE = "silero_vad.onnx"  # opset 16; accepts 8 kHz and 16 kHz
SAMPLE_FILE = Path(__file__).resolve().parents[1] / "data" / "speech_16k.wav"
SAMPLE_RATES = (8000, 16000)
STATE_SHAPE = (2, 1, 128)


def model_path() -> Path:
    """Return the path of the Silero VAD ONNX file, without importing the package (it needs torch).

    Raises:
        CourseError: if the package is not installed.
    """
    return package_file(PACKAGE, PIP_NAME, f"data/{MODEL_FILE}")


@functools.lru_cache(maxsize=1)
def load_vad() -> Any:
    """Load the Silero VAD model once per process as an ``onnxruntime.InferenceSession``.

    Raises:
        CourseError: if the package is missing.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV file as float32 samples in [-1, 1] (channels averaged).

    Returns:
        ``(waveform, sample_rate)`` with ``waveform`` of shape ``(num_samples,)``.

    Raises:
        FileNotFoundError: if the file does not exist.
        DataError: if it is not 16-bit PCM WAV.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No WAV file at {path}")
    try:
        with wave.open(str(path), "rb") as file:
            if file.getsampwidth() != 2:
                raise DataError(f"{path} is not 16-bit PCM; convert it, e.g. with ffmpeg -ac 1")
            channels, sample_rate = file.getnchannels(), file.getframerate()
            data = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
    except wave.Error as error:
        raise DataError(f"{path} is not a readable PCM WAV file: {error}") from error
    waveform = data.reshape(-1, channels).mean(axis=1) / 32768.0
    return waveform.astype(np.float32), sample_rate


def speech_sample() -> tuple[np.ndarray, int]:
    """Return the course's speech recording: ``(waveform, 16000)``, speech from ~1.0 s to ~4.2 s."""
    return read_wav(SAMPLE_FILE)


def chunk_size(sample_rate: int) -> int:
    """Samples per model step: 512 at 16 kHz, 256 at 8 kHz (32 ms either way).

    Raises:
        ValueError: for any other sample rate.
    """
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(
            f"Silero VAD takes audio at 8000 or 16000 Hz, got {sample_rate!r}; resample first, "
            "e.g. scipy.signal.resample_poly(waveform, 16000, sample_rate)."
        )
    return 512 if sample_rate == 16000 else 256


def speech_probabilities(waveform: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """Speech probability of every 32 ms chunk of a mono waveform.

    Args:
        waveform: 1-D float samples in [-1, 1] (int16 samples are scaled).
        sample_rate: 16000 or 8000.

    Returns:
        float32 array of shape ``(ceil(len(waveform) / chunk_size(sample_rate)),)``; item ``i``
        covers samples ``i * chunk`` to ``(i + 1) * chunk`` (the last chunk is zero-padded).

    Raises:
        ValueError: for another sample rate, an empty or non-1-D waveform.
    """
    chunk = chunk_size(sample_rate)
    waveform = np.asarray(waveform)
    if waveform.ndim != 1 or waveform.size == 0:
        raise ValueError(
            f"waveform must be a non-empty 1-D array (mono), got shape {waveform.shape}; "
            "average the channels first: waveform.mean(axis=1)."
        )
    if waveform.dtype == np.int16:
        waveform = waveform / 32768.0
    waveform = waveform.astype(np.float32)
    padded = np.pad(waveform, (0, -len(waveform) % chunk))
    context_size = 64 if sample_rate == 16000 else 32
    session = load_vad()
    state = np.zeros(STATE_SHAPE, dtype=np.float32)
    context = np.zeros((1, context_size), dtype=np.float32)
    rate = np.array(sample_rate, dtype=np.int64)
    probabilities = []
    for start in range(0, len(padded), chunk):
        x = np.concatenate([context, padded[None, start : start + chunk]], axis=1)
        output, state = session.run(None, {"input": x, "state": state, "sr": rate})
        probabilities.append(float(output[0, 0]))
        context = x[:, -context_size:]
    return np.asarray(probabilities, dtype=np.float32)


def speech_segments(
    probabilities: np.ndarray,
    sample_rate: int = 16000,
    threshold: float = 0.5,
    min_duration: float = 0.25,
    min_silence: float = 0.1,
) -> list[tuple[float, float]]:
    """Turn chunk probabilities into ``(start, end)`` times of speech, in seconds.

    Speech starts when a probability reaches ``threshold`` and ends when one falls below
    ``threshold - 0.15`` (the hysteresis Silero's own ``get_speech_timestamps`` uses); pauses
    shorter than ``min_silence`` seconds are bridged, then segments shorter than ``min_duration``
    seconds are dropped.

    Raises:
        ValueError: for a threshold outside (0.15, 1) or an unsupported sample rate.
    """
    if not 0.15 < threshold < 1:
        raise ValueError(f"threshold must lie between 0.15 and 1, got {threshold!r}")
    seconds = chunk_size(sample_rate) / sample_rate
    segments, start = [], None
    for i, p in enumerate(np.asarray(probabilities, dtype=float)):
        if start is None and p >= threshold:
            start = i
        elif start is not None and p < threshold - 0.15:
            segments.append((start * seconds, i * seconds))
            start = None
    if start is not None:
        segments.append((start * seconds, len(probabilities) * seconds))
    merged: list[tuple[float, float]] = []
    for a, b in segments:
        if merged and a - merged[-1][1] < min_silence:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return [(a, b) for a, b in merged if b - a >= min_duration]
