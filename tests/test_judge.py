"""The judge of Exercise 7's saved model, and what the sandbox hides from and hands to it.

:func:`course_utils.checks.experiment.verdict` is called here on models saved for each case,
with images and labels chosen by the test, so that every point is seen won and lost without
training anything; the grading round trip (tests/test_assignments.py, ``ex07_experiment``)
trains for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils.checks import experiment

SIZE = experiment.IMAGE_SIZE


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Sixteen noisy grey images, dark to bright, as the judge feeds them (float32 0..255)."""
    rng = np.random.default_rng(0)
    levels = np.linspace(30, 225, 16, dtype="float32")[:, None, None, None]
    noise = rng.normal(0, 25, (16, SIZE, SIZE, 1)).astype("float32")
    return np.repeat(np.clip(levels + noise, 0, 255), 3, axis=-1)


def _split_evenly(model, images: np.ndarray) -> np.ndarray:
    """Shift the head's bias so that ``model`` answers 1 for half of ``images`` and 0 for the
    others; return those answers (labels it gets all right)."""
    scores = model.predict(images, verbose=0)
    gap = np.sort(np.log(scores[:, 1]) - np.log(scores[:, 0]))
    assert gap[7] < gap[8], "the test images must give different scores"
    cut = (gap[7] + gap[8]) / 2
    head = model.layers[-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias - np.array([0, cut], dtype=bias.dtype)])
    labels = model.predict(images, verbose=0).argmax(axis=1)
    assert labels.sum() == 8
    return labels


def _classifier(preprocess=True):
    """``preprocess`` (default Lite0's Rescaling) -> frozen Lite0 (ImageNet weights) -> pooling
    -> Dense(2), as Part A."""
    import keras

    from course_utils.models import backbones

    keras.utils.set_random_seed(0)
    base = backbones.build("efficientnet_lite0", include_top=False, input_shape=(SIZE, SIZE, 3))
    base.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    if preprocess is True:
        preprocess = keras.layers.Rescaling(1 / 128, offset=-127 / 128)
    x = preprocess(inputs) if preprocess else inputs
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    spread = keras.initializers.RandomNormal(stddev=2.0)  # answers that differ between images
    outputs = keras.layers.Dense(2, activation="softmax", kernel_initializer=spread)(x)
    return keras.Model(inputs, outputs), base


def _fine_tune(base) -> None:
    """What a fine-tuning step does to the top convolution (and not to BatchNormalization)."""
    layer = base.get_layer("top_conv")
    layer.kernel.assign(layer.kernel * 1.01)


def test_fine_tuned_model_gets_every_point(tmp_path: Path, images: np.ndarray) -> None:
    model, base = _classifier()
    labels = _split_evenly(model, images)
    _fine_tune(base)
    path = tmp_path / "solar_cells.keras"
    model.save(path)
    found = experiment.verdict(path, images, labels)
    assert found["points"] == experiment.POINTS and not found["lost"], found["lines"]
    assert found["score"] == found["max_score"] == sum(experiment.POINTS.values())


def test_each_mistake_loses_its_points(tmp_path: Path, images: np.ndarray) -> None:
    """Backbone untouched; BatchNormalization statistics moved; constant answers."""
    model, base = _classifier()
    labels = _split_evenly(model, images)
    path = tmp_path / "head_only.keras"
    model.save(path)
    found = experiment.verdict(path, images, labels)
    assert found["points"] == {**experiment.POINTS, "fine_tuned": 0}
    assert "unfreeze the top layers" in " ".join(found["lost"])

    _fine_tune(base)
    norm = base.get_layer("top_bn")
    norm.moving_mean.assign(norm.moving_mean + 0.5)
    model.save(path)
    found = experiment.verdict(path, images, labels)
    assert found["points"] == {**experiment.POINTS, "batch_norm": 0}
    assert "keep every BatchNormalization layer frozen" in found["lost"][0]
    assert "'top_bn'" in found["lost"][0]

    found = experiment.verdict(path, images, 1 - labels)  # every answer wrong
    assert found["points"]["accuracy"] == 0 and "below" in found["lost"][-1]


@pytest.mark.parametrize(("preprocess", "passes"), [
    ("none", False), ("1/255", False), ("twice", False), ("1/127.5 - 1", True),
    ("normalization", True)])
def test_preprocessing_is_read_from_the_model(tmp_path: Path, images: np.ndarray,
                                              preprocess: str, passes: bool) -> None:
    """The backbone must receive (x - 127) / 128 from raw pixels; close variants pass."""
    import keras

    layer = {"none": False, "1/255": keras.layers.Rescaling(1 / 255),
             "twice": keras.Sequential([keras.layers.Rescaling(1 / 128, offset=-127 / 128),
                                        keras.layers.Rescaling(1 / 128, offset=-127 / 128)]),
             "1/127.5 - 1": keras.layers.Rescaling(1 / 127.5, offset=-1),
             "normalization": keras.layers.Normalization(mean=127.0, variance=128.0**2)}
    model, base = _classifier(layer[preprocess])
    path = tmp_path / "model.keras"
    model.save(path)
    found = experiment.verdict(path, images, np.arange(16) % 2)
    assert found["points"]["preprocessing"] == (experiment.POINTS["preprocessing"] if passes
                                                else 0), found["lines"]
    if not passes:
        assert "keras.layers.Rescaling(1 / 128, offset=-127 / 128)" in found["lost"][0]


def test_another_backbone_still_earns_load_and_accuracy(tmp_path: Path,
                                                        images: np.ndarray) -> None:
    import keras

    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    labels = _split_evenly(model, images)
    path = tmp_path / "small.keras"
    model.save(path)
    found = experiment.verdict(path, images, labels)
    assert found["points"] == {**dict.fromkeys(experiment.POINTS, 0), "loads": 1,
                               "accuracy": experiment.POINTS["accuracy"]}
    assert "no backbone layer named 'stem_conv'" in found["lost"][0]
    assert "lacks" in found["lost"][1] and "efficientnet_lite0" in found["lost"][1]


def test_files_that_cannot_be_judged_get_nothing(tmp_path: Path, images: np.ndarray) -> None:
    import keras

    labels = np.arange(16) % 2
    found = experiment.verdict(tmp_path / "missing.keras", images, labels)
    assert found["score"] == 0 and "model.save('missing.keras')" in found["lost"][0]

    (tmp_path / "text.keras").write_text("not a model")
    found = experiment.verdict(tmp_path / "text.keras", images, labels)
    assert found["score"] == 0 and "not a Keras archive" in found["lost"][0]

    one = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.GlobalAveragePooling2D(),
                            keras.layers.Dense(1)])
    one.save(tmp_path / "one.keras")
    found = experiment.verdict(tmp_path / "one.keras", images, labels)
    assert found["score"] == 0 and "2 class scores per image" in found["lost"][0]


def test_code_in_the_file_is_refused_before_loading(tmp_path: Path) -> None:
    """A Lambda and a custom layer: refused from config.json alone, their code never runs."""
    import keras

    marker = tmp_path / "ran"
    lam = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2),
                            keras.layers.Dense(2)])
    lam.save(tmp_path / "lambda.keras")
    assert "Lambda" in experiment.config_problem(tmp_path / "lambda.keras")

    @keras.saving.register_keras_serializable(package="student")
    class Scale(keras.layers.Layer):
        def call(self, x):
            marker.write_text("ran")  # what loading a custom layer could do
            return x

    custom = keras.Sequential([keras.Input((4,)), Scale(), keras.layers.Dense(2)])
    custom.save(tmp_path / "custom.keras")
    marker.unlink(missing_ok=True)  # building the model called the layer
    problem = experiment.config_problem(tmp_path / "custom.keras")
    assert problem is not None and "Scale" in problem
    found = experiment.verdict(tmp_path / "custom.keras", np.zeros((2, 4), "float32"),
                               np.array([0, 1]))
    assert found["score"] == 0 and not marker.exists()


def test_the_reload_check_compares_the_file_with_the_notebooks_model(
        tmp_path: Path, images: np.ndarray) -> None:
    """The reload test, in the notebook (reload_problem) and outside the kernel (the notebook's
    `model` sent as a .keras file, loaded in safe mode): a file saved before the last fit, a
    missing file, a `model` that is not a model or cannot cross each fail with their message."""
    import keras

    from course_utils.grading import replay

    model, _ = _classifier()
    path = tmp_path / experiment.MODEL_FILE
    model.save(path)
    source = tmp_path / "ex07_experiment.ipynb"  # the judge reads the sent files by its stem

    def judged(value):
        replay._send(["model"], {"model": value}, tmp_path / f"{replay.ANSWERS}-{source.stem}")
        return experiment._reload_verdict(source, tmp_path, images)

    assert experiment.reload_problem(model, path, images) is None
    assert judged(model)["passed"]
    head = model.layers[-1]  # trained again after saving
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias + np.array([1.0, -1.0], dtype=bias.dtype)])
    for problem in (experiment.reload_problem(model, path, images), judged(model)["error"][1]):
        assert "predicts otherwise" in problem and "after its last fit" in problem, problem
    model.save(path)
    assert "`model` is a NoneType" in judged(None)["error"][1]
    wrapped = keras.Sequential([keras.Input((SIZE, SIZE, 3)),
                                keras.layers.Lambda(lambda x: x / 255), model])
    assert "safe_mode" in judged(wrapped)["error"][1]
    for name in ("solar_cells.keras",
                 f"{replay.ANSWERS}-{source.stem}-{replay.SENT}-model.keras"):
        (tmp_path / name).unlink()
    assert "no solar_cells.keras" in experiment.reload_problem(model, path, images)
    assert "no solar_cells.keras" in judged(None)["error"][1]  # the untouched exercise
    for sent in tmp_path.glob(f"{replay.ANSWERS}-*"):  # nothing sent: the notebook stopped
        sent.unlink()
    assert "did it run to its end" in experiment._reload_verdict(source, tmp_path,
                                                                  images)["error"][1]


def test_a_judged_cell_sends_variable_names_only(tmp_path: Path) -> None:
    """The kernel sends what the source's judged cells name in "sends", valid names only."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from course_utils.grading import judge

    def notebook(sends):
        cell = new_code_cell("experiment.judge_reload(model)", metadata={
            "course": {"judge": "experiment", "sends": sends},
            "nbgrader": {"grade": True, "grade_id": "test_saved_model", "points": 1}})
        return new_notebook(cells=[cell, new_code_cell("x = 1", metadata={
            "course": {"sends": ["x"]}})])  # not judged: sends nothing

    assert judge.sent_names(notebook(["model"])) == {"test_saved_model": ["model"]}
    for bad in ("model", ["os.system"], [3]):
        with pytest.raises(ValueError, match="must list variable names"):
            judge.sent_names(notebook(bad))
    root = Path(__file__).resolve().parents[1]
    ex07 = root / "solutions" / "ex07_experiment" / "ex07_experiment.ipynb"
    assert judge.sent_names(ex07) == {"test_saved_model": ["model"]}
    assert set(judge.judged_cells(nbformat.read(ex07, 4))) == {"test_saved_model",
                                                               "test_experiment"}


def test_keep_outputs_copies_plain_model_files_only(tmp_path: Path) -> None:
    """What the judge gets from a kernel's folder: regular .keras files, never a link or a pipe
    (which would make the grader read a file of its own choosing, or block)."""
    from course_utils.grading.sandbox import FILE_BYTES, keep_outputs

    work, kept = tmp_path / "work", tmp_path / "kept"
    work.mkdir()
    (work / "solar_cells.keras").write_bytes(b"model")
    (work / "notes.txt").write_text("not kept")
    secret = tmp_path / "secret"
    secret.write_text("the grader's file")
    (work / "link.keras").symlink_to(secret)
    os.mkfifo(work / "pipe.keras")
    with open(work / "huge.keras", "wb") as handle:
        handle.truncate(FILE_BYTES + 1)
    assert keep_outputs(work, kept) == ["solar_cells.keras"]
    assert sorted(p.name for p in kept.iterdir()) == ["solar_cells.keras"]
    assert (kept / "solar_cells.keras").read_bytes() == b"model"


def test_sandbox_hides_the_test_photos(tmp_path: Path) -> None:
    """In the grading sandbox ELPV's test split and the package's images are empty folders and
    datasets.load gives no test_ds; its train split is still there."""
    from course_utils.grading import preflight, sandbox

    if preflight.unavailable_reason():
        pytest.skip(preflight.unavailable_reason())
    folder = experiment.data_folder()
    assert any((folder / "test").rglob("*.png"))  # outside: there
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from course_utils.data import datasets\n"
        f"folder = Path({str(folder)!r})\n"
        "print(len(list((folder / 'test').rglob('*.png'))), len(list((folder / 'train')"
        ".rglob('*.png'))))\n"
        f"print(datasets.load('offline', **{experiment.DATA!r})[2])\n"
        "import importlib.util\n"
        "data = Path(importlib.util.find_spec('elpv_dataset').submodule_search_locations[0])\n"
        "print(len(list((data / 'data').rglob('*'))))\n")
    done = subprocess.run([*sandbox.bwrap_command(tmp_path, tmp_path), sys.executable, "-c",
                           code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    test_files, train_files = map(int, done.stdout.split("\n")[0].split())
    assert test_files == 0 and train_files > 1000, done.stdout
    assert done.stdout.split("\n")[1:3] == ["None", "0"], done.stdout


def test_an_assignment_may_raise_its_time_limits(tmp_path: Path) -> None:
    """ex07's source asks for longer limits than the defaults; none lowers them."""
    import nbformat

    from course_utils.grading.protocol import Limits
    from course_utils.grading.runner import limits_for

    root = Path(__file__).resolve().parents[1]
    ex07 = root / "solutions" / "ex07_experiment" / "ex07_experiment.ipynb"
    assert limits_for(ex07, Limits()) == Limits(600, 1200)
    plain = root / "solutions" / "ex04_fine_tuning" / "ex04_fine_tuning.ipynb"
    assert limits_for(plain, Limits()) == Limits()
    nb = nbformat.v4.new_notebook(metadata={"course": {"cell_timeout": 5}})
    nbformat.write(nb, tmp_path / "low.ipynb")
    assert limits_for(tmp_path / "low.ipynb", Limits(120, 300, 2**30)) == Limits(120, 300, 2**30)


def test_feedback_shows_the_judges_lines(tmp_path: Path) -> None:
    """The feedback run's kernel cannot see the test photos: a judged cell shows the judge's
    lines from the scoring run instead of its own error."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from course_utils.grading.feedback import _judged_outputs

    def cell(outputs):
        return new_code_cell("experiment.judge_experiment(MODEL_FILE)", outputs=outputs,
                             metadata={"nbgrader": {"grade": True, "grade_id": "test_experiment",
                                                    "points": 6}})

    judge_lines = new_output("stream", name="stdout", text="loads: ...\naccuracy: ...\n")
    autograded = tmp_path / "autograded.ipynb"
    nbformat.write(new_notebook(cells=[cell([judge_lines, new_output(
        "error", ename="JudgedOutside", evalue="5 of 6 points", traceback=[])])]), autograded)
    ran = new_notebook(cells=[cell([new_output("error", ename="AssertionError",
                                               evalue="the test photos are hidden here",
                                               traceback=[])])])
    _judged_outputs(ran, autograded, {"test_experiment"})
    assert ran.cells[0].outputs == [judge_lines]
