"""The ipywidgets explorers, driven without a browser: set a control, read the text widget."""

from __future__ import annotations

import re

import numpy as np
import pytest

from course_utils import widgets


@pytest.fixture(scope="module")
def tiny_model():
    """Conv(3x3x3 -> 4) -> BatchNorm(4) -> GAP -> Dense(4 -> 2): 112 + 8 + 10 trainable params."""
    import keras

    inputs = keras.Input((8, 8, 3), name="input_layer")
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="dense")(x)
    return keras.Model(inputs, outputs)


def _number(text: str, index: int = 1) -> int:
    """The index-th bold number in the widget text (0: layers unfrozen, 1: trainable params)."""
    return int(re.findall(r"<b>([\d,]+)</b>", text)[index].replace(",", ""))


def test_trainable_counts_per_layer_and_flags_restored(tiny_model):
    tiny_model.trainable = False
    counts = widgets.trainable_counts(tiny_model)
    assert [(name, size) for name, _, size in counts] == [
        ("input_layer", 0), ("conv", 3 * 3 * 3 * 4 + 4), ("bn", 8), ("gap", 0), ("dense", 10)]
    assert [is_bn for _, is_bn, _ in counts] == [False, False, True, False, False]
    assert not tiny_model.trainable and not tiny_model.trainable_weights  # nothing changed


@pytest.mark.parametrize(("n", "train_bn", "expected"), [
    (0, False, 0), (1, False, 10), (3, False, 10), (3, True, 18), (5, False, 122), (5, True, 130)])
def test_slider_shows_the_parameters_that_really_train(tiny_model, n, train_bn, expected):
    box = widgets.unfreeze_slider(tiny_model)
    slider, checkbox, text = box.children
    slider.value = n
    checkbox.value = train_bn
    assert _number(text.value, 0) == n
    assert _number(text.value) == expected
    # the same count as unfreezing the model for real, the way lesson 4 does it
    tiny_model.trainable = True
    for layer in tiny_model.layers[:len(tiny_model.layers) - n]:
        layer.trainable = False
    if not train_bn:
        for layer in tiny_model.layers:
            if "bn" in layer.name:
                layer.trainable = False
    assert sum(int(np.prod(w.shape)) for w in tiny_model.trainable_weights) == expected
    tiny_model.trainable = False


def test_slider_rejects_out_of_range(tiny_model):
    with pytest.raises(ValueError, match="between 0 and 5"):
        widgets.unfreeze_slider(tiny_model, value=9)
    with pytest.raises(TypeError):
        widgets.trainable_counts(object())


def test_slider_and_training_unfreeze_top_mean_the_same_top_n(tiny_model):
    """One meaning of "the top N layers": the slider's count is what unfreeze_top opens."""
    from course_utils import training

    slider, _, text = widgets.unfreeze_slider(tiny_model).children
    for n in range(len(tiny_model.layers) + 1):
        slider.value = n
        assert _number(text.value) == training.unfreeze_top(tiny_model, n)
    tiny_model.trainable = False


def test_slider_says_when_n_cuts_a_block_in_two():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = inputs
    for name in ("block1a_conv", "block1a_relu", "block2a_conv", "block2a_relu", "top_conv"):
        layer = keras.layers.ReLU if name.endswith("relu") else keras.layers.Conv2D
        x = layer(name=name)(x) if layer is keras.layers.ReLU else layer(2, 1, name=name)(x)
    slider, _, text = widgets.unfreeze_slider(keras.Model(inputs, x)).children
    slider.value = 2  # block2a_relu and top_conv: block2a's conv stays frozen
    assert "cuts <code>block2a</code> in two</b> (1 of its layers frozen, 1 open)" in text.value
    slider.value = 3
    assert "the cut lies between blocks" in text.value


def test_preprocessing_toggle_top_class_follows_the_preprocessing(tiny_model):
    image = np.full((8, 8, 3), 200, dtype="uint8")
    probs_raw = tiny_model.predict(image[None].astype("float32"), verbose=0)[0]
    probs_zero = tiny_model.predict(np.zeros((1, 8, 8, 3), "float32"), verbose=0)[0]
    box = widgets.preprocessing_toggle(tiny_model, image,
                                       {"raw": lambda x: x, "zeros": lambda x: x * 0},
                                       class_names=["cat", "dog"], top=2)
    buttons, text = box.children
    assert "<b>raw</b>" in text.value
    assert f"{probs_raw.max():.3f}" in text.value
    first = re.findall(r"<td>1</td><td>(\w+)</td>", text.value)[0]
    assert first == ["cat", "dog"][int(np.argmax(probs_raw))]
    buttons.value = "zeros"
    assert "<b>zeros</b>" in text.value and f"{probs_zero.max():.3f}" in text.value


def test_preprocessing_toggle_checks_its_arguments(tiny_model):
    with pytest.raises(ValueError, match="at least one"):
        widgets.preprocessing_toggle(tiny_model, np.zeros((8, 8, 3)), {}, class_names=["a", "b"])
    with pytest.raises(ValueError, match="height, width, 3"):
        widgets.preprocessing_toggle(tiny_model, np.zeros((8, 8)), {"raw": lambda x: x},
                                     class_names=["a", "b"])


def test_search_box_shows_the_search_results_in_order():
    def search(query, corpus, top_k):
        scored = [(s, float(len(set(query.split()) & set(s.split())))) for s in corpus]
        return sorted(scored, key=lambda pair: -pair[1])[:top_k]

    box = widgets.search_box(["a red cat", "blue sky", "a cat"], search, query="", top_k=2)
    query, text = box.children
    assert "type a query" in text.value
    query.value = "red cat"
    assert text.value.index("a red cat") < text.value.index("a cat<")
    assert "blue sky" not in text.value
    with pytest.raises(ValueError, match="empty"):
        widgets.search_box([], search)


def test_counts_ignore_layers_frozen_one_by_one(tiny_model):
    """Layers frozen individually still count as unfreezable, and stay frozen afterwards."""
    tiny_model.trainable = True
    for layer in tiny_model.layers:
        layer.trainable = layer.name == "dense"
    counts = widgets.trainable_counts(tiny_model)
    assert [size for _, _, size in counts] == [0, 112, 8, 0, 10]
    assert [layer.trainable for layer in tiny_model.layers] == [False, False, False, False, True]
    assert sum(int(np.prod(w.shape)) for w in tiny_model.trainable_weights) == 10
    tiny_model.trainable = False


# --- What the lessons' widget cells used to assert in the notebook (lessons 4 and 5) ---------
# Widget cells teach: they build and display an explorer. The checks live here.

def _lesson_cell(name: str, marker: str) -> str:
    """The source of the one code cell of lesson ``name`` that contains ``marker``."""
    import nbformat
    from notebook_rules import LESSONS

    (path,) = [p for p in LESSONS if p.name.startswith(name)]
    cells = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"{path.name}: expected one code cell with {marker!r}, got {len(cells)}"
    return cells[0]


def _run_cell(source: str, namespace: dict) -> list:
    """Execute a lesson cell with ``display`` captured; return what it displayed."""
    import course_utils

    shown: list = []
    exec(compile(source, "<lesson cell>", "exec"),  # noqa: S102 - the course's own notebook
         {"course_utils": course_utils, "display": shown.append, **namespace})
    return shown


@pytest.mark.parametrize("lesson", ["04", "05"])
def test_lesson_widget_cells_only_build_and_display(lesson):
    """No cell of lessons 4-5 reads a widget's value back (that belongs in this file)."""
    import nbformat
    from notebook_rules import LESSONS

    (path,) = [p for p in LESSONS if p.name.startswith(lesson)]
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            assert not re.search(r"\.value\b", cell.source), (
                f"{path.name}: a cell reads a widget's .value; move that check to tests/")


def test_lesson4_slider_cell_shows_the_real_count(tiny_model):
    source = _lesson_cell("04", "course_utils.widgets.unfreeze_slider(")
    (explorer,) = _run_cell(source, {"base_model": tiny_model, "UNFREEZE_LAYERS": 3})
    slider, checkbox, text = explorer.children
    assert slider.style.description_width == "initial"  # the label is not cut
    for n in range(len(tiny_model.layers) + 1):
        slider.value = n
        tiny_model.trainable = True
        for i, layer in enumerate(tiny_model.layers):
            layer.trainable = i >= len(tiny_model.layers) - n and "bn" not in layer.name
        assert _number(text.value) == sum(int(np.prod(w.shape)) for w in tiny_model.trainable_weights)
    tiny_model.trainable = False


def test_lesson5_toggle_cell_labels_whole_and_table_follows_buttons(tiny_model):
    """The lesson's styling reaches the widget (a misspelt trait would be silently ignored), and
    each button shows the model's own top class and probability for that preprocessing."""
    source = _lesson_cell("05", "course_utils.widgets.preprocessing_toggle(")
    image = np.full((8, 8, 3), 200, dtype="float32")
    wrong = {"double: /255, then preprocess": lambda x: (x / 255 - 127) / 128,
             "none (raw 0..255)": lambda x: x}
    lite0 = type("Lite0", (), {"preprocess_input": staticmethod(lambda x: (x - 127) / 128)})
    (toggle,) = _run_cell(source, {"model": tiny_model, "images": image[None], "wrong": wrong,
                                   "lite0": lite0, "CLASS_NAMES": ["cat", "dog"]})
    buttons, table = toggle.children
    state = buttons.style.get_state()
    assert state["description_width"] == "initial" and state["button_width"] == "auto"
    preprocessors = {"right": lite0.preprocess_input} | wrong
    assert list(buttons.options) == list(preprocessors)
    for option, preprocess in preprocessors.items():
        buttons.value = option
        probs = tiny_model.predict(preprocess(image[None].copy()), verbose=0)[0]
        first = re.findall(r"<td>1</td><td>(\w+)</td><td>([\d.]+)</td>", table.value)[0]
        assert first == (["cat", "dog"][int(np.argmax(probs))], f"{probs.max():.3f}"), option
