"""Judge a saved fine-tuning experiment: a ``.keras`` file scored on ELPV's test photos.

Exercise 7 hands in a model file, :data:`MODEL_FILE`. :func:`verdict` is the one judgement,
used twice: by ``course autograde``'s judge (:mod:`course_utils.grading.judge`), in a
process of its own outside the sandbox, on the test split that the sandbox hides from the
student's kernel; and by :func:`judge_experiment` in the notebook's own test cell, so a student
sees the same points and messages in JupyterLab or Colab. It never runs code from the file: the
archive's ``config.json`` is read as data first and may name Keras's own classes only, and the
model is then loaded with ``safe_mode=True`` (no ``Lambda`` code).

Points (:data:`POINTS`): the file loads and maps images to class scores; the backbone receives
raw pixels x as Lite0's ``(x - 127) / 128`` (read by running the layers before it: the
preprocessing lives in the model); every BatchNormalization layer of the backbone keeps its
pretrained moving statistics; some of the backbone's own weights moved (it was fine-tuned); the
balanced accuracy on the test photos (the mean of the two classes' recalls: 0.5 for a model that
always gives the same answer, whatever the class ratio) reaches :data:`BALANCED_ACCURACY`. A
model that fails to load gets nothing.

A second check, :func:`reload_problem`, asks whether the file is the notebook's ``model`` as it
ends (saved after the last fit, predicting the same): :func:`judge_reload` in the notebook, and
outside the sandbox on the ``model`` the kernel sends as a ``.keras`` file (the test cell's
``"sends": ["model"]``, :func:`.grading.judge.sent_names`), loaded with ``safe_mode=True``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..models.layers import is_batch_norm, sublayers

__all__ = ["MODEL_FILE", "IMAGE_SIZE", "DATA", "POINTS", "BALANCED_ACCURACY", "data_folder",
           "config_problem", "verdict", "reload_problem", "judge_cells", "judge_experiment",
           "judge_reload"]

MODEL_FILE = "solar_cells.keras"
IMAGE_SIZE = 96
BACKBONE = "efficientnet_lite0"
# The experiment's data: datasets.load(..., **DATA); the judge reads the same folder's test split.
DATA = {"dataset": "elpv", "task": "defect", "image_size": IMAGE_SIZE, "train_fraction": 1.0}
POINTS = {"loads": 1, "preprocessing": 1, "batch_norm": 1, "fine_tuned": 1, "accuracy": 2}
FIRST_LAYER = "stem_conv"  # the backbone's first layer with weights
PIXEL_TOLERANCE = 0.02  # |what the backbone receives - (x - 127) / 128|: 1/127.5 - 1 passes
# Balanced accuracy (the mean of the classes' recalls; 0.5 for any constant answer) that earns
# the accuracy points: set from measured runs (the notebook's notes for instructors).
BALANCED_ACCURACY = 0.56
# Where the classes a judged config may name come from: Keras's public API (and the functional
# model's own module). Anything else, even inside Keras, is refused before loading.
KERAS_MODULES = frozenset({
    "keras", "keras.layers", "keras.initializers", "keras.regularizers", "keras.constraints",
    "keras.optimizers", "keras.optimizers.schedules", "keras.losses", "keras.metrics",
    "keras.src.models.functional"})
ARCHIVE_BYTES = 256 * 2**20  # what the archive may unpack to
RTOL = 1e-5
RELOAD_PHOTOS, RELOAD_ATOL = 64, 1e-4  # test photos the file and `model` are compared on


def data_folder() -> Path:
    """The ELPV folder of :data:`DATA`, built once (what the grader prepares before sandboxed
    kernels need it)."""
    from ..data import datasets

    return datasets.elpv_dataset(**{k: v for k, v in DATA.items() if k != "dataset"})


def config_problem(path: Path) -> str | None:
    """Why the ``.keras`` file at ``path`` cannot be judged, or None; reads it as data only.

    Refused: not a Keras archive, an archive unpacking to more than :data:`ARCHIVE_BYTES`, and a
    config naming a class from outside :data:`KERAS_MODULES` or a ``Lambda`` (a custom layer's or
    a lambda's code would have to run to load the model).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > ARCHIVE_BYTES:
                return f"the archive unpacks to more than {ARCHIVE_BYTES // 2**20} MiB"
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        return f"it is not a Keras archive that model.save() wrote ({type(exc).__name__})"
    from ..grading.answers import config_classes

    for module, name in config_classes(config):
        if (module, name) == ("", "__keras_tensor__"):  # a reference between layers
            continue
        if name == "Lambda" or module not in KERAS_MODULES:
            return (f"it needs code that is not Keras's own ({name} from {module or '?'}): use "
                    "Keras layers only, e.g. keras.layers.Rescaling for the preprocessing "
                    "instead of a Lambda or a custom layer")
    return None


def _reference() -> dict[str, Any]:
    """The pretrained backbone's layers by name."""
    from ..models import backbones

    base = backbones.build(BACKBONE, include_top=False, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    return {layer.name: layer for layer in sublayers(base)}


def _backbone_input(model: Any, images: np.ndarray) -> np.ndarray | None:
    """What the backbone's first layer receives for ``images``: the model's top-level layers
    before the one that is (or holds) :data:`FIRST_LAYER`, applied in order in inference mode;
    None when there is no such layer or those layers are not a chain."""
    import keras

    x = keras.ops.convert_to_tensor(images)
    for layer in model.layers:
        if layer.name == FIRST_LAYER or FIRST_LAYER in {s.name for s in sublayers(layer)}:
            return np.asarray(keras.ops.convert_to_numpy(x))
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            x = layer(x, training=False)
        except Exception:  # a branching graph, a layer with two inputs: not a chain
            return None
    return None


def _statistics(layer: Any) -> list[Any]:
    """A BatchNormalization layer's moving mean and variance."""
    return [layer.moving_mean, layer.moving_variance]


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        np.shape(x) == np.shape(y) and np.allclose(np.asarray(x), np.asarray(y), rtol=RTOL,
                                                   atol=1e-7) for x, y in zip(a, b, strict=True))


def verdict(path: str | Path, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Judge the model saved at ``path`` on ``images`` (float32 0..255, ``(n, 96, 96, 3)``)
    with integer ``labels`` (every class present).

    Returns:
        ``{"points": {item: points}, "score", "max_score", "lines", "lost"}``: the points per item
        of :data:`POINTS`, their total and maximum, one line per finding, and the lines of the
        findings that lost points.
    """
    import keras

    points = dict.fromkeys(POINTS, 0)
    lines: list[str] = []
    lost: list[str] = []

    def finding(item: str | None, ok: bool, line: str) -> None:
        lines.append(line)
        if ok and item:
            points[item] = POINTS[item]
        elif not ok:
            lost.append(line)

    def result() -> dict[str, Any]:
        return {"points": points, "score": float(sum(points.values())),
                "max_score": float(sum(POINTS.values())), "lines": lines, "lost": lost}

    path = Path(path)
    if not path.is_file():
        finding("loads", False, f"no {path.name} was saved: end the experiment with "
                f"model.save({path.name!r})")
        return result()
    problem = config_problem(path)
    if problem:
        finding("loads", False, f"{path.name} cannot be loaded safely: {problem}")
        return result()
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        scores = np.asarray(model.predict(images, batch_size=64, verbose=0))
    except Exception as exc:  # the student's file: any failure is a finding, not a crash
        finding("loads", False,
                f"{path.name} did not load and predict: {type(exc).__name__}: {exc}"[:400])
        return result()
    classes = int(labels.max()) + 1
    if scores.shape != (len(images), classes) or not np.all(np.isfinite(scores)):
        finding("loads", False, f"the model maps {images.shape} images to {scores.shape}"
                f"{'' if np.all(np.isfinite(scores)) else ' with NaN or inf'}: it must give "
                f"{classes} class scores per image, from raw 0..255 pixels")
        return result()
    finding("loads", True, f"loads: {path.name} loads without custom code and gives {classes} "
            "class scores per image")

    received = _backbone_input(model, images[:8])
    expected = (images[:8] - 127.0) / 128.0
    if received is None:
        finding("preprocessing", False, "preprocessing: no backbone layer named "
                f"{FIRST_LAYER!r} after a chain of preprocessing layers: build the model as "
                "input -> preprocessing layers -> backbone -> head")
    else:
        error = float(np.max(np.abs(received - expected)))
        finding("preprocessing", error <= PIXEL_TOLERANCE,
                f"preprocessing: the backbone receives (x - 127) / 128 from raw pixels x (off "
                f"by at most {error:.3f})" if error <= PIXEL_TOLERANCE else
                f"preprocessing: the backbone receives values from {received.min():.3g} to "
                f"{received.max():.3g} for raw pixels {images.min():.0f}..{images.max():.0f}, "
                f"off by up to {error:.3g} from Lite0's (x - 127) / 128: put "
                "keras.layers.Rescaling(1 / 128, offset=-127 / 128) before the backbone, once")

    reference = _reference()
    mine = {layer.name: layer for layer in sublayers(model) if layer.name in reference}
    missing = [name for name, layer in reference.items() if layer.weights and name not in mine]
    if missing:
        finding(None, False, f"the saved model lacks {len(missing)} of the backbone's layers "
                f"(e.g. {missing[0]!r}): build it on course_utils.backbones.build({BACKBONE!r}, "
                "include_top=False, ...) and keep its layer names")
    else:
        norms = [name for name, layer in reference.items() if is_batch_norm(layer)]
        moved = [name for name in norms
                 if not _same(_statistics(mine[name]), _statistics(reference[name]))]
        finding("batch_norm", not moved,
                f"batch_norm: {len(moved)} of {len(norms)} BatchNormalization layers lost their "
                f"pretrained moving statistics (e.g. {moved[0]!r}): keep every "
                "BatchNormalization layer frozen (trainable = False) while fine-tuning"
                if moved else f"batch_norm: all {len(norms)} BatchNormalization layers keep "
                "their pretrained statistics")
        tuned = [name for name, layer in reference.items()
                 if not is_batch_norm(layer) and layer.weights
                 and not _same(mine[name].weights, layer.weights)]
        finding("fine_tuned", bool(tuned),
                f"fine_tuned: {len(tuned)} backbone layers moved from their pretrained weights "
                f"(the top one: {tuned[-1]!r})" if tuned else "fine_tuned: the backbone's "
                "weights are the pretrained ones: after training the head, unfreeze the top "
                "layers and train again with a small learning rate")

    predicted = scores.argmax(axis=1)
    recalls = [float(np.mean(predicted[labels == c] == c)) for c in range(classes)]
    balanced = float(np.mean(recalls))
    found = (f"accuracy: balanced accuracy {balanced:.3f} on {len(labels)} hidden test photos "
             "(recall " + ", ".join(f"{r:.2f}" for r in recalls) + " per class)")
    finding("accuracy", balanced >= BALANCED_ACCURACY,
            f"{found}, at least {BALANCED_ACCURACY}" if balanced >= BALANCED_ACCURACY else
            f"{found}, below {BALANCED_ACCURACY} (0.5: always the same answer): check the "
            "preprocessing inside the model (the judge feeds raw 0..255 pixels) and the "
            "learning rates")
    return result()


def reload_problem(model: Any, path: str | Path, images: np.ndarray) -> str | None:
    """Why the file at ``path`` is not ``model`` saved (None when it is): it is missing, cannot
    be loaded safely, ``model`` is not a Keras model, or the two predict otherwise on ``images``
    (by more than :data:`RELOAD_ATOL`: saved before the last fit, say)."""
    import keras

    path = Path(path)
    if not path.is_file():
        return f"no {path.name} was saved: end Part B with model.save(MODEL_FILE)"
    problem = config_problem(path)
    if problem:
        return f"{path.name} cannot be loaded safely: {problem}"
    if not isinstance(model, keras.Model):
        return f"`model` is a {type(model).__name__}, not the Keras model of Parts A and B"
    try:
        reloaded = keras.saving.load_model(path, compile=False, safe_mode=True)
        got = np.asarray(reloaded.predict(images, verbose=0))
        want = np.asarray(model.predict(images, verbose=0))
    except Exception as exc:  # the student's file: any failure is a finding, not a crash
        return f"{path.name} did not load and predict: {type(exc).__name__}: {exc}"[:400]
    if got.shape != want.shape:
        return f"the reloaded {path.name} gives {got.shape[1:]} scores per photo, `model` " \
            f"{want.shape[1:]}: save `model` itself, with model.save(MODEL_FILE)"
    error = float(np.max(np.abs(got - want), initial=0.0))
    if not error <= RELOAD_ATOL:
        return (f"the reloaded {path.name} predicts otherwise than `model` on {len(images)} "
                f"test photos (by up to {error:.3g}): save the model after its last fit, with "
                "model.save(MODEL_FILE)")
    return None


def _test_split() -> tuple[np.ndarray, np.ndarray]:
    """ELPV's test photos and labels (read here: the caller must be allowed to see them).

    Raises:
        LookupError: the test split is hidden from this process (a grading sandbox).
    """
    from ..data import datasets

    _, _, test_ds, _ = datasets.load("offline", **DATA)
    if test_ds is None:
        raise LookupError("the test photos are hidden here")
    images = np.concatenate([x for x, _ in test_ds.as_numpy_iterator()])
    labels = np.concatenate([y for _, y in test_ds.as_numpy_iterator()]).astype(int)
    return images, labels


def judge_cells(source: Path, kept: Path, cells: list[str]) -> dict[str, dict[str, Any]]:
    """The grader's judge (:mod:`course_utils.grading.judge`), on what the kernel left in
    ``kept``: a test cell that is sent the notebook's ``model`` (``"sends": ["model"]``) gets
    :func:`reload_problem` on that model, as the kernel saved it and loaded here with
    ``safe_mode=True``, and :data:`MODEL_FILE`; the others :func:`verdict` on the file."""
    from ..grading import judge

    sends = judge.sent_names(source)
    images, labels = _test_split()
    found: dict[str, dict[str, Any]] = {}
    experiment = None
    for grade_id in cells:
        if "model" in sends.get(grade_id, []):
            found[grade_id] = _reload_verdict(source, kept, images[:RELOAD_PHOTOS])
        else:
            experiment = experiment or verdict(kept / MODEL_FILE, images, labels)
            found[grade_id] = experiment
    return found


def _reload_verdict(source: Path, kept: Path, images: np.ndarray) -> dict[str, Any]:
    """:func:`reload_problem` on the ``model`` the kernel sent (:func:`.replay.sent`)."""
    from ..grading import replay

    try:
        variables, arrays = replay.sent(kept, source.stem)
        model = replay.received(kept, variables.get("model"), arrays, "your notebook's `model`")
        problem = reload_problem(model, kept / MODEL_FILE, images)
    except (OSError, ValueError):
        problem = "the grader got no `model` from your notebook (did it run to its end?)"
    except RuntimeError as exc:  # the notebook's model cannot cross: the message says why
        problem = str(exc)
    if problem:
        return {"passed": False, "lines": [], "error": ["AssertionError", problem]}
    return {"passed": True, "lines": [f"{MODEL_FILE} reloads and predicts what `model` "
                                      f"predicts on {len(images)} hidden test photos"]}


def judge_experiment(path: str | Path = MODEL_FILE) -> float | None:
    """The experiment's test cell: print the verdict on ELPV's test photos, return the points.

    The returned number is what nbgrader reads as the cell's partial credit in a student's own
    check (``course check``, Validate). ``course autograde`` does not run this cell in the
    student's kernel: it judges the saved file outside the sandbox with :func:`judge_cells` and
    writes the cell's points and lines itself. Where the test photos are hidden (a sandbox) this
    fails, so a cell that no judge replaces scores nothing.

    Raises:
        AssertionError: the test photos are hidden here.
    """
    found = verdict(path, *_visible_test_split(path))
    print("\n".join(found["lines"]))
    print(f"{found['score']:g} of {found['max_score']:g} points")
    return found["score"]


def judge_reload(model: Any, path: str | Path = MODEL_FILE) -> None:
    """The reload test cell: :func:`reload_problem` on the first :data:`RELOAD_PHOTOS` test
    photos. ``course autograde`` judges it outside the student's kernel instead, with the
    ``model`` the kernel sends (:func:`judge_cells`).

    Raises:
        AssertionError: the problem, or the test photos are hidden here.
    """
    problem = reload_problem(model, path, _visible_test_split(path)[0][:RELOAD_PHOTOS])
    assert problem is None, problem
    print(f"{Path(path).name} reloads and predicts what `model` predicts on {RELOAD_PHOTOS} "
          "test photos")


def _visible_test_split(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_test_split`, or AssertionError where the photos are hidden (a grading sandbox,
    whose judge scores the file outside)."""
    try:
        return _test_split()
    except LookupError:
        raise AssertionError("the test photos are hidden here: the grader's judge scores "
                             f"{Path(path).name} outside this notebook") from None
