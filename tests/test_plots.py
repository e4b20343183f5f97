"""Plot helpers: each returns a Figure whose content matches the data given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class FakeHistory:
    """Stands in for keras.callbacks.History: only its ``history`` dict is read."""

    def __init__(self, history):
        self.history = history


RUNS = {
    "pretrained": FakeHistory(
        {"accuracy": [0.6, 0.8, 0.9], "val_accuracy": [0.7, 0.85, 0.88], "loss": [1.0, 0.5, 0.3]}
    ),
    "scratch": {"accuracy": [0.3, 0.4], "val_accuracy": [0.25, 0.35]},
}


def test_history_draws_train_solid_and_val_dashed_per_run():
    fig = plots.history(RUNS)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [
        "pretrained train",
        "pretrained val",
        "scratch train",
        "scratch val",
    ]
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    np.testing.assert_allclose(lines[1].get_ydata(), [0.7, 0.85, 0.88])
    np.testing.assert_allclose(lines[2].get_xdata(), [1, 2])
    assert ax.get_ylabel() == "accuracy"


def test_history_without_validation_and_on_given_axes():
    fig, ax = plt.subplots()
    assert plots.history({"a": RUNS["pretrained"]}, metric="loss", ax=ax) is fig
    assert [line.get_label() for line in ax.get_lines()] == ["a train"]


@pytest.mark.parametrize(
    ("histories", "error"),
    [({}, ValueError), ({"scratch": RUNS["scratch"]}, ValueError), ({"x": [0.1]}, TypeError)],
)
def test_history_bad_input(histories, error):
    with pytest.raises(error):
        plots.history(histories, metric="loss")


def test_image_grid_shapes_titles_and_scaling():
    images = np.full((5, 4, 4, 3), 255.0)  # float 0..255 must be shown as 0..1
    fig = plots.image_grid(images, titles=list("abcde"), ncols=2)
    assert len(fig.axes) == 5  # 3 rows x 2 columns, the sixth cell removed
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    assert fig.axes[0].images[0].get_array().max() == pytest.approx(1.0)
    uint8 = plots.image_grid([np.zeros((4, 4, 3), np.uint8)] * 2)
    assert len(uint8.axes) == 2 and uint8.axes[0].images[0].get_array().dtype == np.uint8


def test_image_grid_rejects_wrong_titles():
    with pytest.raises(ValueError, match="titles"):
        plots.image_grid(np.zeros((2, 4, 4, 3)), titles=["one"])


def test_predictions_writes_top_k_under_each_image():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    decoded = [[(281, "tabby", 0.871), (285, "Egyptian_cat", 0.1)], [(967, "espresso", 0.5)]]
    fig = plots.predictions(images, decoded)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "tabby 87.1%\nEgyptian_cat 10.0%"
    assert fig.axes[1].get_xlabel() == "espresso 50.0%"
    with pytest.raises(ValueError, match="predictions"):
        plots.predictions(images, decoded[:1])


def test_confusion_matrix_values():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    fig = plots.confusion_matrix(y_true, y_pred, ["a", "b", "c"])
    matrix = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(matrix, [[0.5, 0.5, 0], [0, 1, 0], [0.5, 0, 0.5]])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]
    counts = plots.confusion_matrix(y_true, y_pred, ["a", "b", "c"], normalize=False)
    np.testing.assert_array_equal(
        counts.axes[0].images[0].get_array(), [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    )


def test_confusion_matrix_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="outside"):
        plots.confusion_matrix([0, 3], [0, 1], ["a", "b"])


def test_history_epoch_ticks_are_whole_numbers():
    fig = plots.history({"run": {"accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.5]}})
    ticks = fig.axes[0].get_xticks()
    assert all(float(t).is_integer() for t in ticks)
    plt.close(fig)
