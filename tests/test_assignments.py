"""The autograded assignments: nbgrader metadata, and a grading round trip for each one.

Structure tests read the source notebooks in ``solutions/`` (instant). The round trip generates
each assignment once with the course's grader (:mod:`course_utils.grading.runner`, which runs
nbgrader's own ``generate_assignment`` and ``autograde``) and grades three submissions made from
the released notebook: the solution (full marks), the untouched exercise (0) and one submission
with two typical mistakes (partial credit, and each failing test names the pitfall).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions"
ASSIGNMENTS = sorted(p.name for p in SOURCE.glob("ex*/") if p.is_dir())
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)

# Typical wrong answers: grade_id of an answer cell -> what a student might write, and the test
# cells that must then fail with a message naming the pitfall.
WRONG: dict[str, dict[str, dict[str, str]]] = {
    "ex01_imagenet": {
        "answers": {
            "top5_error": (
                "def top5_error(probs, labels):\n"
                "    return float(np.mean(np.argmax(probs, axis=1) != labels))\n"),
            "ilsvrc_history": (
                "def relative_reduction(errors):\n"
                "    years = sorted(errors)\n"
                "    return {y: errors[p] - errors[y] for p, y in zip(years, years[1:])}\n\n\n"
                "def first_year_below(errors, threshold):\n"
                "    return next((y for y in sorted(errors) if errors[y] < threshold), None)\n"),
        },
        "failures": {"test_top5_error": "top-1 error",
                     "test_relative_reduction": "percentage points"},
    },
    "ex02_backbones": {
        "answers": {
            "conv_counts": (
                "def conv_params(kernel_size, in_channels, out_channels, use_bias=True):\n"
                "    bias = out_channels if use_bias else 0\n"
                "    return kernel_size**2 * in_channels * out_channels + bias\n\n\n"
                "def separable_conv_params(kernel_size, in_channels, out_channels,"
                " use_bias=True):\n"
                "    bias = out_channels if use_bias else 0\n"
                "    return (kernel_size**2 * in_channels * out_channels"
                " + in_channels * out_channels + bias)\n"),
            "choose_backbone": (
                "def choose_backbone(sizes, max_millions):\n"
                "    fits = [n for n, m in sizes.items() if m <= max_millions]\n"
                "    return min(fits, key=lambda n: sizes[n])\n"),
        },
        "failures": {"test_separable_conv_params": "ONE k x k filter per input channel",
                     "test_choose_backbone": "smallest model"},
    },
    "ex03_feature_extraction": {
        "answers": {
            "build_classifier": (
                "def build_classifier(base_model, num_classes, preprocess_input, dropout=0.2):\n"
                "    inputs = keras.Input(shape=base_model.input_shape[1:])\n"
                "    x = base_model(preprocess_input(inputs))\n"
                "    x = keras.layers.Dropout(dropout)(x)\n"
                "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
            "train_head": (
                "def train_head(features, labels, num_classes):\n"
                "    head = keras.Sequential([keras.Input((features.shape[1],)),\n"
                "                             keras.layers.Dense(num_classes)])\n"
                "    compile_classifier(head)\n"
                "    head.fit(features, labels, batch_size=32, epochs=20, verbose=0)\n"
                "    return head\n"),
        },
        "failures": {"test_build_classifier": "base_model.trainable = False",
                     "test_train_head": "the budget is 100"},
    },
    "ex04_fine_tuning": {
        "answers": {
            "unfreeze_top": (
                "def unfreeze_top(base_model, n):\n"
                "    base_model.trainable = True\n"
                "    for layer in base_model.layers:\n"
                "        layer.trainable = False\n"
                "    for layer in base_model.layers[-n:]:\n"
                "        layer.trainable = True\n"
                "    return int(sum(np.prod(w.shape) for w in base_model.trainable_weights))\n"),
            "fine_tune": (
                "def fine_tune(model, base_model, train_ds, n, learning_rate, steps):\n"
                "    compile_for_fine_tuning(model, learning_rate)\n"
                "    unfreeze_top(base_model, n)\n"
                "    return model.fit(train_ds.take(steps), epochs=1, verbose=0)\n"),
        },
        "failures": {"test_unfreeze_top": "keep BatchNormalization frozen",
                     "test_fine_tune": "call model.compile(...) again"},
    },
    "ex05_preprocessing": {
        "answers": {
            "preprocess": (
                "def preprocess(images, mode):\n"
                "    x = np.array(images, dtype='float32')\n"
                "    if mode == 'caffe':\n"
                "        return x - np.array([103.939, 116.779, 123.68], dtype='float32')\n"
                "    if mode == 'tf':\n"
                "        return x / 127.5 - 1.0\n"
                "    if mode == 'torch':\n"
                "        return x / 255.0 - np.array([0.485, 0.456, 0.406], dtype='float32')\n"
                "    if mode == 'builtin':\n"
                "        return x\n"
                "    if mode == 'lite':\n"
                "        return (x - 127.0) / 128.0\n"
                "    raise ValueError(mode)\n"),
            "is_double_scaled": (
                "def is_double_scaled(images):\n"
                "    return bool(np.max(images) <= 1.0)\n"),
        },
        "failures": {"test_preprocess_caffe": "still RGB",
                     "test_preprocess_torch": "divides by the std",
                     "test_is_double_scaled": "not double scaling",
                     # preprocess_for builds on preprocess: its message points back to Part A
                     "test_preprocess_for": "passes Part A"},
    },
    "ex06_model_hubs": {
        "answers": {
            "cosine_similarity": (
                "def cosine_similarity(a, b):\n"
                "    return np.asarray(a, dtype='float64') @ np.asarray(b, dtype='float64').T\n"),
            "speech_seconds": (
                "def speech_seconds(probabilities, sample_rate, threshold=0.5):\n"
                "    return float((np.asarray(probabilities) > threshold).sum())\n"),
        },
        "failures": {"test_cosine_similarity": "that is the dot product",
                     "test_speech_seconds": "chunk_size(sample_rate) samples"},
    },
}

# Checks whose return value is None: a test cell may end with a call to one of them. Any other
# final expression is shown as the cell's result, and nbgrader reads a number there as the
# cell's partial credit.
_NONE_RETURNING = {"print", "_check", "expect_type", "expect_equal", "expect_allclose",
                   "expect_number", "expect_array",
                   "expect_model", "expect_frozen", "expect_bn_frozen",
                   "expect_weights_unchanged_after_step", "expect_base_called_in_inference_mode",
                   "expect_compiled_after_trainable_change", "expect_activation_matches_loss",
                   "expect_preprocessed_range"}


def _read(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(SOURCE / assignment / f"{assignment}.ipynb", as_version=4)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _ends_with_value(source: str) -> bool:
    last = ast.parse(source).body[-1]
    if not isinstance(last, ast.Expr):
        return False
    call = last.value if isinstance(last.value, ast.Call) else None
    name = getattr(call and call.func, "attr", None) or getattr(call and call.func, "id", None)
    return name not in _NONE_RETURNING


def test_every_assignment_is_covered() -> None:
    """Six assignments, each alone in its folder, each with typical wrong answers listed."""
    assert ASSIGNMENTS == sorted(WRONG)
    for assignment in ASSIGNMENTS:
        files = sorted(p.name for p in (SOURCE / assignment).iterdir())
        assert files == [f"{assignment}.ipynb"], f"{assignment}: nothing may sit beside the notebook"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_metadata(assignment: str) -> None:
    """Answer cells have markers, test cells are locked with points and say what they check."""
    nb = _read(assignment)
    ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade ids in {assignment}"
    tests = [c for c in nb.cells if _nbgrader(c).get("grade")]
    answers = [c for c in nb.cells if _nbgrader(c).get("solution")]
    assert 3 <= len(answers) <= 5 and len(tests) >= len(answers)
    assert any("course-setup" in c.metadata.get("tags", []) for c in nb.cells)
    assert nb.cells[1].source.startswith("<!-- badges"), "second cell: the badge placeholder"
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        if not meta:
            continue
        assert meta["schema_version"] == 3 and re.fullmatch(r"[A-Za-z0-9_-]+", meta["grade_id"])
        if meta.get("solution"):
            assert not meta["grade"] and not meta["locked"]
            assert cell.source.count("### BEGIN SOLUTION") == cell.source.count(
                "### END SOLUTION") >= 1, meta["grade_id"]
        elif meta.get("grade"):
            gid = meta["grade_id"]
            assert meta["locked"] and meta["points"] > 0 and gid.startswith("test_")
            assert cell.source.startswith("# "), f"{gid}: first line says what it checks"
            assert cell.source.count("### BEGIN HIDDEN TESTS") == 1 == cell.source.count(
                "### END HIDDEN TESTS"), gid
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            assert "assert" in visible or "checks." in visible, f"{gid}: no visible check"
            assert not _ends_with_value(visible) and not _ends_with_value(cell.source), (
                f"{gid} ends with an expression: nbgrader would read its value as partial credit")
        else:
            assert meta["locked"], meta["grade_id"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("grading")


def _submission(release: Path, source: Path, answers: dict[str, str | None]) -> nbformat.NotebookNode:
    """The released notebook with some answer cells filled in (None: the solution's code)."""
    solutions = {_nbgrader(c)["grade_id"]: SOLUTION_MARKERS.sub("", c.source)
                 for c in nbformat.read(source, as_version=4).cells if _nbgrader(c).get("solution")}
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        if gid in answers:
            cell.source = solutions[gid] if answers[gid] is None else answers[gid]
    return nb


def _grade(template: Path, assignment: str, student: str, nb, workdir: Path):
    """Grade ``nb``; return the runner's Result and {test grade_id: (score, error message)}."""
    from nbgrader.utils import determine_grade

    from course_utils.grading import runner

    path = workdir / f"{student}-{assignment}.ipynb"
    nbformat.write(nb, path)
    result = runner.grade(template, student, assignment, path, assignment, workdir)
    assert result.error is None, f"{student}: {result.error}"
    print(f"{assignment} {student}: {result.score:g}/{result.max_score:g} in {result.seconds:.0f} s")
    graded = nbformat.read(result.folder / "autograded" / student / assignment
                           / f"{assignment}.ipynb", as_version=4)
    cells = {}
    for cell in graded.cells:
        if _nbgrader(cell).get("grade") and cell.cell_type == "code":
            errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
            cells[_nbgrader(cell)["grade_id"]] = (determine_grade(cell)[0], " ".join(errors))
    return result, cells


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_round_trip(assignment: str, workdir: Path) -> None:
    """Solution: full marks; untouched: 0; two typical mistakes: partial credit, named pitfalls."""
    from course_utils.grading import release as release_check
    from course_utils.grading import runner

    template = runner.prepare_template(ROOT, assignment, workdir)
    source = template / "solutions" / assignment / f"{assignment}.ipynb"
    release = template / "exercises" / assignment / f"{assignment}.ipynb"
    release_check.check_released(release.parent, source)  # no answers or hidden tests leak
    answer_ids = [_nbgrader(c)["grade_id"] for c in nbformat.read(source, as_version=4).cells
                  if _nbgrader(c).get("solution")]

    solved, cells = _grade(template, assignment, "solution",
                           _submission(release, source, dict.fromkeys(answer_ids)), workdir)
    failed = {gid: message for gid, (score, message) in cells.items() if message}
    assert solved.score == solved.max_score > 0 and not failed, failed

    untouched, cells = _grade(template, assignment, "untouched",
                              nbformat.read(release, as_version=4), workdir)
    assert untouched.score == 0
    assert all("NotImplementedError" in message for _, message in cells.values()), cells

    wrong = WRONG[assignment]
    answers = {**dict.fromkeys(answer_ids), **wrong["answers"]}
    partial, cells = _grade(template, assignment, "typical_mistakes",
                            _submission(release, source, answers), workdir)
    assert 0 < partial.score < partial.max_score
    failed = {gid: message for gid, (score, message) in cells.items() if score == 0}
    assert set(failed) == set(wrong["failures"]), failed
    for gid, pitfall in wrong["failures"].items():
        assert pitfall in failed[gid], f"{gid}: {failed[gid]!r} does not name {pitfall!r}"
