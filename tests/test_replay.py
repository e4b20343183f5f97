"""The replay judge (course_utils.grading.replay) and the values it reads (grading.answers).

A small notebook without TensorFlow goes through the three steps in this process: the plan
(the reference solution's calls), the kernel's answers (here, functions of a namespace standing
for a student's kernel) and the judge's replay. The grading round trips in test_assignments.py
run the same steps through nbgrader and the sandbox.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.grading import answers, replay

REFERENCE = "def double(values):\n    return [2 * v for v in values]\n"
TEST = ("# double: twice each value\n"
        "got = double([1, 2, 3])\n"
        "assert got == [2, 4, 6], f'double([1, 2, 3]) gave {got}'\n"
        "### BEGIN HIDDEN TESTS\n"
        "data = np.array([1.5, -1.0])\n"
        "got = double(list(data))\n"
        "assert got == [3.0, -2.0], f'negative values: got {got}'\n"
        "### END HIDDEN TESTS\n")


def _notebook(folder: Path, answer: str = REFERENCE, test: str = TEST,
              setup: str = "import numpy as np") -> Path:
    def graded(source: str, grade_id: str, solution: bool) -> nbformat.NotebookNode:
        cell = new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": not solution, "solution": solution,
                                     "grade_id": grade_id, "points": 0 if solution else 2,
                                     "locked": not solution, "schema_version": 3}
        if not solution:
            cell.metadata["course"] = {"judge": replay.JUDGE}
        return cell

    nb = new_notebook(cells=[new_code_cell(setup),
                             graded(answer, "double_answer", True),
                             graded(test, "test_double", False)])
    path = folder / "toy.ipynb"
    nbformat.write(nb, path)
    return path


def _judge(source: Path, student: dict, tmp_path: Path, seconds: float | None = None) -> dict:
    """Plan ``source``, answer from the functions in ``student`` (each call limited to
    ``seconds``), replay: the test's verdict."""
    plan = source.parent / replay.PLAN / source.stem
    replay.check_plan(source, plan, replay.make_plan(source, plan))
    kept = tmp_path / "kept"
    kept.mkdir(exist_ok=True)
    student.setdefault("np", np)  # the kernel's namespace: its functions' globals
    replay.answer(plan, kept / f"{replay.ANSWERS}-{source.stem}", student, seconds=seconds)
    return replay.judge_cells(source, kept, ["test_double"])["test_double"]


def _defined(code: str, setup: str = "") -> dict:
    ns: dict = {"np": np}
    exec(setup, ns)  # noqa: S102 (the notebook's own set-up, as the kernel ran it)
    exec(code, ns)  # noqa: S102 (the test's own student code)
    return ns


def test_values_cross_as_data_with_their_types(tmp_path: Path) -> None:
    class Liar(float):
        def __eq__(self, other):
            return True

        __hash__ = float.__hash__

    value = {"a": (1, 2.5, None, True), 3: [np.int64(7), np.float32(0.5)],
             "arr": np.arange(6).reshape(2, 3), "set": {1, 2}, "nan": math.nan,
             "inf": -math.inf, "liar": Liar(0.25), "0d": np.array(4.0)}
    arrays: list = []
    data = answers.encode(value, arrays)
    answers.save(tmp_path / "v", [(data, arrays)])
    (got_data, got_arrays), = answers.load(tmp_path / "v")
    got = answers.decode(got_data, got_arrays)
    assert got["a"] == (1, 2.5, None, True) and isinstance(got["a"], tuple)
    assert type(got[3][0]) is np.int64 and type(got[3][1]) is np.float32
    assert got["arr"].shape == (2, 3) and got["arr"].dtype == value["arr"].dtype
    assert got["set"] == {1, 2} and math.isnan(got["nan"]) and got["inf"] == -math.inf
    assert type(got["liar"]) is float and got["liar"] != 0.5  # the lie does not cross
    assert got["0d"].shape == () and float(got["0d"]) == 4.0


def test_what_cannot_cross_is_named_not_run(tmp_path: Path) -> None:
    arrays: list = []
    data = answers.encode([object(), np.array([{"x": 1}], dtype=object)], arrays)
    got = answers.decode(data, arrays)
    assert all(isinstance(item, answers.Unreadable) for item in got)
    assert "object" in repr(got[0])
    (tmp_path / "bad.json").write_text(json.dumps({"records": [{"$array": 0}], "arrays": [1]}))
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a file of recorded values"):
        answers.load(tmp_path / "bad")
    with pytest.raises(ValueError, match="larger than"):
        answers.load(tmp_path / "bad", limit=4)


def test_right_answers_pass_and_wrong_ones_fail_with_the_tests_message(tmp_path: Path) -> None:
    source = _notebook(tmp_path)
    assert _judge(source, _defined(REFERENCE), tmp_path)["passed"]
    doubled_abs = _defined("def double(values):\n    return [2 * abs(v) for v in values]\n")
    verdict = _judge(source, doubled_abs, tmp_path)
    assert not verdict["passed"]
    assert verdict["error"][0] == "AssertionError"
    assert verdict["error"][1].startswith("negative values: got [")


def test_an_exception_and_a_missing_function_fail_the_test(tmp_path: Path) -> None:
    source = _notebook(tmp_path)
    raising = _defined("def double(values):\n    raise KeyError('oops')\n")
    assert _judge(source, raising, tmp_path)["error"][0] == "KeyError"
    assert _judge(source, {}, tmp_path)["error"] == ["NameError",
                                                     "name 'double' is not defined"]


def test_a_call_past_the_cell_limit_fails_as_a_timeout_and_the_others_are_answered(
        tmp_path: Path) -> None:
    """The kernel answers each of the grader's calls within the cell limit: a function that
    hangs on the hidden input fails that call with a TimeoutError; the visible call before it
    still passes, and the kernel's own SIGALRM handler is put back."""
    import signal

    source = _notebook(tmp_path)
    hangs = _defined("def double(values):\n"
                     "    while any(v < 0 for v in values):\n"
                     "        pass\n"
                     "    return [2 * v for v in values]\n")
    handler = signal.getsignal(signal.SIGALRM)
    assert _judge(source, hangs, tmp_path, seconds=0.5)["error"] == [
        "TimeoutError", "double ran longer than 0.5 s on the grader's inputs and was interrupted"]
    assert signal.getsignal(signal.SIGALRM) is handler
    assert _judge(source, _defined(REFERENCE), tmp_path, seconds=0.5)["passed"]


def test_changes_to_the_inputs_reach_the_test(tmp_path: Path) -> None:
    test = ("# double: leaves its input alone\n"
            "values = [1, 2]\n"
            "got = double(values)\n"
            "assert values == [1, 2], 'double changed its input in place'\n"
            "assert got == [2, 4]\n")
    source = _notebook(tmp_path, test=test)
    in_place = _defined("def double(values):\n"
                        "    values[:] = [2 * v for v in values]\n"
                        "    return values\n")
    assert _judge(source, in_place, tmp_path)["error"] == [
        "AssertionError", "double changed its input in place"]
    assert _judge(source, _defined(REFERENCE), tmp_path)["passed"]


def test_no_answers_file_fails_every_replayed_test(tmp_path: Path) -> None:
    source = _notebook(tmp_path)
    plan = source.parent / replay.PLAN / source.stem
    replay.make_plan(source, plan)
    verdict = replay.judge_cells(source, tmp_path / "nothing", ["test_double"])["test_double"]
    assert not verdict["passed"] and "no answers" in verdict["error"][1]


PICK_SETUP = "import functools\nimport numpy as np\n\n\ndef times(x, k):\n    return x * k\n"
PICK = "def double(candidates, x):\n    return max(candidates, key=lambda n: candidates[n](x))\n"
PICK_TEST = ("# double: the name of the candidate with the largest value\n"
             "got = double({'two': functools.partial(times, k=2), 'abs': abs,\n"
             "              'neg': functools.partial(times, k=-1)}, 3)\n"
             "assert got == 'two', f'you said {got!r}'\n")


def test_functions_cross_to_the_kernel_by_reference_and_never_back(tmp_path: Path) -> None:
    """A test may pass functions inside other arguments: the notebook's own by name, others by
    module and name, a functools.partial of one with its arguments. The kernel's answers may
    name no code: the judge refuses a reference in them."""
    source = _notebook(tmp_path, PICK, PICK_TEST, PICK_SETUP)
    assert _judge(source, _defined(PICK, PICK_SETUP), tmp_path)["passed"]
    (asked, _), = answers.load(source.parent / replay.PLAN / source.stem / "calls")
    sent = json.dumps(asked)
    assert '"$partial": [{"$global": "times"}' in sent and '"builtins:abs"' in sent
    worst = _defined(PICK.replace("max(", "min("), PICK_SETUP)
    assert _judge(source, worst, tmp_path)["error"] == ["AssertionError", "you said 'neg'"]
    stem = tmp_path / "kept" / f"{replay.ANSWERS}-{source.stem}"
    stored = json.loads(stem.with_suffix(".json").read_text())
    stored["records"][0]["result"] = {"$import": "os:getcwd"}
    stem.with_suffix(".json").write_text(json.dumps(stored))
    verdict = replay.judge_cells(source, tmp_path / "kept", ["test_double"])["test_double"]
    assert verdict["error"] == ["ValueError",
                                "the grader reads values only, and got a reference ($import)"]


def test_equal_arrays_are_stored_once_and_decoded_apart() -> None:
    photos = np.arange(12.0).reshape(2, 6)
    arrays: list = []
    data = answers.encode([photos, photos.copy(), photos[::-1], np.array(-0.0), np.array(0.0)],
                          arrays)
    assert len(arrays) == 4  # the copy shares the first; -0.0 and 0.0 differ in their bytes
    got = answers.decode(data, arrays)
    assert np.signbit(got[3]) and not np.signbit(got[4])
    assert got[0] is not got[1] and np.array_equal(got[0], got[1])
    got[0][0, 0] = 99.0
    assert got[1][0, 0] == 0.0


@pytest.mark.parametrize(("answer", "test", "refusal"), [
    (REFERENCE, "# double of a random value\nimport random\n"
     "assert double([random.random()])[0] < 2\n", "inputs it makes itself"),
    (REFERENCE + "SCALE = 2\n", TEST, "define functions only"),
    (REFERENCE, "# double of a generator\nassert double(v for v in [1]) == [2]\n",
     "generator"),
    ("def double(values):\n    return values\n", TEST, "reference solution fails"),
])
def test_a_test_that_cannot_be_replayed_is_refused(tmp_path: Path, answer: str, test: str,
                                                   refusal: str) -> None:
    source = _notebook(tmp_path, answer, test)
    plan = source.parent / replay.PLAN / source.stem
    with pytest.raises(RuntimeError, match=refusal):
        replay.check_plan(source, plan, replay.make_plan(source, plan))


def test_a_judge_server_forks_each_judgement(tmp_path: Path) -> None:
    """A :class:`judge.Server` gives the verdicts a new process gives, stops a judgement that
    runs too long without stopping itself, and reports a judge that fails."""
    from course_utils.grading import judge

    source = _notebook(tmp_path)
    plan = source.parent / replay.PLAN / source.stem
    replay.check_plan(source, plan, replay.make_plan(source, plan))
    right, wrong = tmp_path / "right", tmp_path / "wrong"
    for kept, code in [(right, REFERENCE), (wrong, "def double(values):\n    return values\n")]:
        kept.mkdir()
        replay.answer(plan, kept / f"{replay.ANSWERS}-{source.stem}", _defined(code))
    (tmp_path / "slow").mkdir()
    slow = _notebook(tmp_path / "slow")
    replay.make_plan(slow, slow.parent / replay.PLAN / slow.stem)
    nb = nbformat.read(slow, as_version=4)
    nb.cells[-1].source = "import time\ntime.sleep(60)\n" + TEST  # slower after planning
    nbformat.write(nb, slow)
    server = judge.Server()
    try:
        for kept in (right, wrong):
            once = judge.run_judge(replay.JUDGE, source, kept, ["test_double"])
            assert judge.run_judge(replay.JUDGE, source, kept, ["test_double"],
                                   server=server) == once
        assert once["test_double"]["passed"] is False
        timed_out = judge.run_judge(replay.JUDGE, slow, right, ["test_double"], timeout=3,
                                    server=server)
        assert timed_out["test_double"]["lines"] == ["judging took more than 3 s"]
        with pytest.raises(RuntimeError, match="FileNotFoundError"):
            judge.run_judge(replay.JUDGE, tmp_path / "missing.ipynb", right, ["test_double"],
                            server=server)
        assert judge.run_judge(replay.JUDGE, source, right, ["test_double"],
                               server=server)["test_double"]["passed"]
    finally:
        server.close()


@pytest.mark.parametrize(("later", "refused"), [
    ("print(got)", "reads 'got', which the judged test test_double defines"),
    ("def show():\n    return data.sum()", "reads 'data'"),
    ("got = double([5])\nprint(got)", None),  # binds it before reading it
    ("import numpy as data\ndata.zeros(1)", None),
    ("try:\n    1 / 0\nexcept ZeroDivisionError as data:\n    print(data)", None),
    ("for data in range(2):\n    print(data)", None),
    ("with open(__file__) as data:\n    print(data)", None),
    ("for data in range(2):\n    pass\nelse:\n    print(got)", "reads 'got'"),
])
def test_a_later_cell_may_not_need_what_a_judged_test_defines(tmp_path: Path, later: str,
                                                               refused: str | None) -> None:
    """Judged tests do not run in the student's kernel: a template whose later cells read what
    one defines is refused (at ``course release`` and when grading starts)."""
    from course_utils.grading import judge

    source = _notebook(tmp_path)
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(new_code_cell(later))
    nbformat.write(nb, source)
    if refused is None:
        judge.check_state(source)
    else:
        with pytest.raises(ValueError, match=refused):
            judge.check_state(source)


MODEL_SETUP = ("import keras\nimport numpy as np\n"
               "from course_utils.checks import expect_compiled_after_trainable_change\n"
               "keras.utils.set_random_seed(0)\n"
               "base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),\n"
               "                         keras.layers.BatchNormalization()], name='base')\n")
MODEL_REFERENCE = ("def double(base, n):  # a frozen base and a Dense head, compiled\n"
                   "    base.trainable = False\n"
                   "    inputs = keras.Input((4,))\n"
                   "    head = keras.layers.Dense(n)(base(inputs, training=False))\n"
                   "    return keras.Model(inputs, head)\n\n\n"
                   "def compile_it(model, rate):\n"
                   "    model.compile(optimizer=keras.optimizers.Adam(rate), loss='mse')\n")
MODEL_TEST = ("# double and compile_it: models cross as saved files\n"
              "model = double(base, 2)\n"
              "assert base.trainable_weights == [], 'freeze base'\n"
              "assert any(layer is base for layer in model.layers), 'call base in the model'\n"
              "x = np.ones((2, 4), 'float32')\n"
              "want = model.layers[-1](base(x, training=False))\n"
              "assert np.allclose(model.predict(x, verbose=0), want, atol=1e-5), 'Dense(base(x))'\n"
              "probe = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])\n"
              "compile_it(probe, 0.01)\n"
              "assert isinstance(probe.optimizer, keras.optimizers.Adam), 'use Adam'\n"
              "assert abs(float(probe.optimizer.learning_rate) - 0.01) < 1e-9, 'use the rate'\n"
              "expect_compiled_after_trainable_change(probe)\n")


@pytest.mark.slow
@pytest.mark.parametrize(("change", "failure"), [
    ("", None),
    (("    base.trainable = False", "    pass"), "freeze base"),
    (("head = keras.layers.Dense(n)(base(inputs, training=False))",
      "head = keras.layers.Dense(n)(keras.layers.Dense(3)(inputs))"), "call base in the model"),
    (("keras.layers.Dense(n)(base(inputs, training=False))",
      "keras.layers.Dense(n)(keras.layers.Lambda(lambda t: t)(base(inputs, training=False)))"),
     "the grader cannot load the model double returned with Keras's safe_mode"),
    (("Adam(rate)", "Adam(0.001)"), "use the rate"),
    (("model.compile(", "model = keras.models.clone_model(model)\n    model.compile("),
     "object has no attribute 'optimizer'"),
    (("loss='mse')\n", "loss='mse')\n    model.trainable = False\n"),  # after compiling
     "trainable flags changed after compile"),
])
def test_models_cross_as_files_loaded_in_safe_mode(tmp_path: Path, change, failure) -> None:
    """A model returned and a model argument changed in place reach the judge's test, which
    still sees the argument inside the returned model; a model holding code is refused."""
    student = MODEL_REFERENCE.replace(*change) if change else MODEL_REFERENCE
    _check(tmp_path, MODEL_REFERENCE, MODEL_TEST, MODEL_SETUP, student, failure)


def _check(tmp_path: Path, reference: str, test: str, setup: str, student: str,
           failure: str | None) -> None:
    """Judge ``student``'s code on ``test`` planned with ``reference``; expect ``failure``."""
    source = _notebook(tmp_path, reference, test, setup=setup)
    _expect(_judge(source, _defined(student, setup), tmp_path), failure)


def _expect(verdict: dict, failure: str | None) -> None:
    """The verdict passes (``failure`` None) or fails with a message containing ``failure``."""
    if failure is None:
        assert verdict["passed"], verdict
    else:
        assert not verdict["passed"] and failure in verdict["error"][1], verdict


@pytest.mark.slow
def test_a_saved_model_the_kernel_names_is_checked_before_loading(tmp_path: Path) -> None:
    import zipfile

    (tmp_path / "big.keras").write_bytes(b"x" * 16)
    with zipfile.ZipFile(tmp_path / "hub.keras", "w") as archive:  # loads a SavedModel's code
        archive.writestr("config.json", json.dumps({"class_name": "Functional", "config": {
            "layers": [{"module": "keras.layers", "class_name": "TFSMLayer", "config": {}}]}}))
    for saved, said in [({"$keras": "../big.keras"}, "no saved copy"),
                        ({"$keras": "hub.keras"}, "holds a TFSMLayer"),
                        ({"$keras": "missing.keras"}, "no saved copy"),
                        ({"$unsaved": "NotImplementedError: get_config"}, "cannot be saved"),
                        ({"$keras": "big.keras"}, "not a Keras archive")]:
        with pytest.raises(RuntimeError, match=said):
            replay.load_model(tmp_path, saved, "the model")


@pytest.mark.slow
@pytest.mark.parametrize(("student", "failure"), [
    ("def open_base(base):\n    base.layers[-1].trainable = False\n"
     "    return len(base.trainable_weights)\n", None),
    ("def open_base(base):\n    return len(base.trainable_weights)\n", "4 trainable weights"),
])
def test_a_model_changed_in_place_changes_every_reference(tmp_path: Path, student: str,
                                                          failure: str | None) -> None:
    """A model argument that is not inside the returned value takes the kernel's trainable
    flags and weights in place: a model that holds it (here ``whole``) sees them."""
    setup = MODEL_SETUP + "whole = keras.Sequential([keras.Input((4,)), base, " \
        "keras.layers.Dense(1)])\n"
    test = ("# open_base: BatchNormalization frozen, seen from the model that holds base\n"
            "count = open_base(base)\n"
            "assert count == 2, f'{count} trainable weights'\n"
            "assert len(whole.trainable_weights) == 4, 'whole does not see the change'\n")
    reference = ("def open_base(base):\n    base.layers[-1].trainable = False\n"
                 "    return len(base.trainable_weights)\n")
    _check(tmp_path, reference, test, setup, student, failure)


@pytest.mark.slow
def test_an_old_keras_refuses_to_judge_models(tmp_path: Path, monkeypatch) -> None:
    """Keras before replay.SAFE_KERAS has published safe_mode bypasses: the judge stops (the
    grader reports an error) instead of loading a student's model with it."""
    import keras

    source = _notebook(tmp_path)
    plan = source.parent / replay.PLAN / source.stem
    replay.make_plan(source, plan)
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / f"{replay.ANSWERS}-{source.stem}-0-result.keras").write_bytes(b"")
    monkeypatch.setattr(keras, "version", lambda: "3.13.1")
    with pytest.raises(RuntimeError, match="pip install -U keras"):
        replay.judge_cells(source, kept, ["test_double"])


@pytest.mark.slow
@pytest.mark.parametrize(("student", "failure"), [
    ("def stopper(n):\n    return keras.callbacks.EarlyStopping(patience=n, "
     "restore_best_weights=True)\n", None),
    ("def stopper(n):\n    callback = keras.callbacks.EarlyStopping(restore_best_weights=True)\n"
     "    callback.patience = n\n    return callback\n", None),  # set after: read as it is
    ("def stopper(n):\n    return keras.callbacks.EarlyStopping(patience=3, "
     "restore_best_weights=True)\n", "patience 3 for 5"),
    ("class Mine(keras.callbacks.EarlyStopping):\n    pass\n\n\n"
     "def stopper(n):\n    return Mine(patience=n, restore_best_weights=True)\n",
     "builds callbacks again from Keras's own classes only"),
])
def test_a_callback_crosses_as_its_keras_class_and_arguments(tmp_path: Path, student: str,
                                                              failure: str | None) -> None:
    """The judge builds a Keras callback again from its class's name and arguments; a
    callback class of the student's is refused with a message, never built or run."""
    setup = "import keras\nimport numpy as np\n"
    test = ("# stopper: early stopping with patience n, best weights restored\n"
            "for n in (3, 5):\n"
            "    callback = stopper(n)\n"
            "    assert type(callback) is keras.callbacks.EarlyStopping, type(callback)\n"
            "    assert callback.patience == n, f'patience {callback.patience} for {n}'\n"
            "    assert callback.restore_best_weights\n")
    reference = ("def stopper(n):\n    return keras.callbacks.EarlyStopping(patience=n, "
                 "restore_best_weights=True)\n")
    _check(tmp_path, reference, test, setup, student, failure)


@pytest.mark.slow
@pytest.mark.parametrize(("student", "failure"), [
    ("", None),
    (("    base.trainable = False\n    model.compile(optimizer=keras.optimizers.SGD(0.1), "
      "loss='mse')\n", "    model.compile(optimizer=keras.optimizers.SGD(0.1), loss='mse')\n"
      "    base.trainable = False\n"), "trainable flags changed after compile"),
    (("data.take(steps)", "data"), "5 optimizer steps"),
    (("return model.fit(", "model.fit("), "History"),
])
def test_a_fit_on_the_notebooks_dataset_crosses_with_its_history(tmp_path: Path, student,
                                                                  failure) -> None:
    """A dataset the notebook holds is passed by its variable's name, a model argument inside
    another one travels with it, and the History and the optimizer's step count reach the
    judge."""
    setup = (MODEL_SETUP + "import tensorflow as tf\n"
             "whole = keras.Sequential([keras.Input((4,)), base, keras.layers.Dense(1)])\n"
             "data = tf.data.Dataset.from_tensor_slices((np.ones((10, 4), 'float32'), "
             "np.ones((10, 1), 'float32'))).batch(2)\n")
    reference = ("def train(model, base, data, steps):\n"
                 "    base.trainable = False\n"
                 "    model.compile(optimizer=keras.optimizers.SGD(0.1), loss='mse')\n"
                 "    return model.fit(data.take(steps), epochs=1, verbose=0)\n")
    test = ("# train: base frozen, then compiled, then fit for `steps` batches\n"
            "whole.compile(optimizer='adam', loss='mse')\n"
            "history = train(whole, base, data, 3)\n"
            "assert isinstance(history, keras.callbacks.History), f'return the History'\n"
            "assert len(history.history['loss']) == 1, history.history\n"
            "assert base.trainable_weights == [], 'freeze base'\n"
            "expect_compiled_after_trainable_change(whole)\n"
            "steps = int(whole.optimizer.iterations)\n"
            "assert steps == 3, f'{steps} optimizer steps, expected 3'\n")
    answer = reference.replace(*student) if student else reference
    _check(tmp_path, reference, test, setup, answer, failure)


def test_a_seed_the_test_sets_before_a_call_is_set_in_the_kernel(tmp_path: Path) -> None:
    setup = "import keras\nimport numpy as np\n"
    reference = "def draw():\n    return float(np.random.random())\n"
    test = ("# draw: one number from NumPy's global generator\n"
            "keras.utils.set_random_seed(3)\n"
            "got = draw()\n"
            "keras.utils.set_random_seed(3)\n"
            "assert got == np.random.random(), f'{got} is not the seeded draw'\n")
    _check(tmp_path, reference, test, setup, reference, None)
    _check(tmp_path, reference, test, setup, "def draw():\n    return 0.5\n", "seeded draw")


def test_a_name_the_test_reuses_without_putting_it_back_stays_in_the_judge(
        tmp_path: Path) -> None:
    """An expected value held in a name a notebook variable also has never reaches the
    kernel: only variables the test puts back by its end cross with its calls."""
    setup = "import numpy as np\nwant = None\nlimit = 3\n"
    reference = "def cap(values):\n    return [min(v, limit) for v in values]\n"
    test = ("# cap: values capped at the notebook's limit\n"
            "want = [0, 2, 3]\n"
            "got = cap([0, 2, 5])\n"
            "assert got == want, f'cap gave {got}'\n")
    _check(tmp_path, reference, test, setup, reference, None)
    _check(tmp_path, reference, test, setup, "def cap(values):\n    return want\n",
           "cap gave None")


@pytest.mark.slow
@pytest.mark.parametrize(("student", "failure"), [
    ("", None),
    (("validation_split=0.25", "validation_data=(x_test, y_test)"), "validates on the TEST set"),
    (("head.fit(features, labels", "head.fit(x, y"), "fitted the notebook's labels"),
])
def test_globals_the_test_rebinds_hold_in_the_kernel_and_a_fit_history_crosses(
        tmp_path: Path, student, failure) -> None:
    """A notebook variable the test rebinds to data holds that value in the kernel during the
    call (and its own value afterwards); the returned model brings its last fit's history,
    which checks.validated_on reads."""
    setup = ("import keras\nimport numpy as np\nfrom course_utils import checks\n"
             "rng = np.random.default_rng(0)\n"
             "x, x_test = rng.normal(size=(96, 4)), rng.normal(size=(48, 4))\n"
             "y, y_test = (x[:, 0] > 0).astype(int), (x_test[:, 0] > 0).astype(int)\n")
    reference = ("def fit_head(features, labels):\n"
                 "    head = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
                 "    head.compile(keras.optimizers.Adam(0.1),\n"
                 "                 keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
                 "    head.fit(features, labels, epochs=5, verbose=0, validation_split=0.25)\n"
                 "    return head\n")
    test = ("# fit_head: fitted on its arguments, validated on part of them\n"
            "saved = y, y_test\n"
            "try:\n"
            "    y, y_test = 1 - saved[0], 1 - saved[1]\n"
            "    head = fit_head(x, saved[0])\n"
            "finally:\n"
            "    y, y_test = saved\n"
            "assert not checks.validated_on(head, x_test, 1 - y_test), "
            "'validates on the TEST set'\n"
            "predicted = head.predict(x, verbose=0).argmax(axis=1)\n"
            "assert np.mean(predicted == y) > 0.8, 'fitted the notebook\\'s labels'\n")
    answer = reference.replace(*student) if student else reference
    source = _notebook(tmp_path, reference, test, setup=setup)
    kernel = _defined(answer, setup)
    kept = kernel["y_test"]
    _expect(_judge(source, kernel, tmp_path), failure)
    assert kernel["y_test"] is kept and "head" not in kernel


@pytest.mark.slow
@pytest.mark.parametrize(("student", "failure"), [
    ("", None),
    (("        layer.trainable = i >= len(base.layers) - n\n",
      "        layer.trainable = layer.trainable or i >= len(base.layers) - n\n"),
     "open_top(base, 0) gave 4"),
    (("    return len(", "    base.layers[0].kernel.assign(base.layers[0].kernel * 0)\n"
      "    return len("), "the weights moved"),
])
def test_a_model_only_reflagged_or_compiled_crosses_without_its_file(
        tmp_path: Path, monkeypatch, student, failure) -> None:
    """A model the plan passed that a call re-flags or compiles, weights untouched, crosses as
    its flags and compile settings (no file: the judge gives them to the plan's model), and the
    kernel loads the plan's copy once and gives it again under each call's flags; a call that
    moves a weight still sends the file, and the next call gets the plan's model anew."""
    import keras

    reference = ("def open_top(base, n):\n"
                 "    for i, layer in enumerate(base.layers):\n"
                 "        layer.trainable = i >= len(base.layers) - n\n"
                 "    base.compile(optimizer=keras.optimizers.SGD(0.1 * n), loss='mse')\n"
                 "    return len(base.trainable_weights)\n")
    test = ("# open_top: the top n layers train, compiled at a rate of 0.1 n\n"
            "for layer in base.layers:\n"
            "    layer.trainable = False\n"
            "start = np.array(base.layers[0].kernel)\n"
            "for n, want in [(1, 2), (2, 4), (0, 0)]:\n"
            "    got = open_top(base, n)\n"
            "    assert got == want, f'open_top(base, {n}) gave {got}'\n"
            "    rate = float(base.optimizer.learning_rate)\n"
            "    assert abs(rate - 0.1 * n) < 1e-6, f'rate {rate} for {n}'\n"
            "    expect_compiled_after_trainable_change(base)\n"
            "assert np.allclose(base.layers[0].kernel, start), 'the weights moved'\n")
    answer = reference.replace(*student) if student else reference
    source = _notebook(tmp_path, reference, test, setup=MODEL_SETUP)
    plan = source.parent / replay.PLAN / source.stem
    replay.check_plan(source, plan, replay.make_plan(source, plan))
    kept = tmp_path / "kept"
    kept.mkdir()
    loads = []
    load = keras.models.load_model
    monkeypatch.setattr(keras.models, "load_model",
                        lambda *args, **kwargs: loads.append(args) or load(*args, **kwargs))
    replay.answer(plan, kept / f"{replay.ANSWERS}-{source.stem}", _defined(answer, MODEL_SETUP))
    monkeypatch.undo()
    sent = sorted(path.name for path in kept.glob("*.keras"))
    if failure == "the weights moved":  # each call moved them: a file each, a fresh model each
        assert len(sent) == 3 and len(loads) == 3, (sent, loads)
    else:
        assert sent == [] and len(loads) == 1, (sent, loads)
    _expect(replay.judge_cells(source, kept, ["test_double"])["test_double"], failure)
