"""Small ipywidgets explorers used in the lessons (each returns a widget; nothing runs at import).

Every explorer keeps its result in a plain widget (``ipywidgets.HTML``) next to its controls, so
a test can drive it without a browser: set the control's ``value`` and read the ``value`` of the
text widget. ``widget.children`` holds the controls first and the text last.

- :func:`unfreeze_slider`: how many parameters train when the top ``N`` layers of a backbone are
  unfrozen, with and without BatchNormalization, and whether ``N`` cuts a block in two (lesson 4).
- :func:`preprocessing_toggle`: the top-5 classes of one photo under each preprocessing (lesson 5).
- :func:`search_box`: type a query, see the closest sentences of a corpus (lesson 6).

They work with ipywidgets 7.7 (Colab's) and 8 (JupyterLab 4's): only the API the two share is used
(``value`` traits, ``observe(..., names="value")``, ``Layout``, ``description_width`` style), and
``make test-colab`` runs ``tests/test_widgets.py`` on ipywidgets 7.7.1.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..models.layers import block_of, is_batch_norm, split_block, trainable_params

__all__ = [
    "trainable_counts",
    "count_trainable",
    "unfreeze_slider",
    "preprocessing_toggle",
    "search_box",
]


def trainable_counts(base_model: Any) -> list[tuple[str, bool, int]]:
    """Return, for each layer, ``(name, is_batch_norm, parameters it trains when unfrozen)``.

    The model's ``trainable`` flags are restored afterwards, so calling this changes nothing.

    Args:
        base_model: a Keras model whose ``layers`` are the units that get unfrozen.

    Returns:
        One tuple per layer of ``base_model.layers``, in order.

    Raises:
        TypeError: ``base_model`` has no ``layers``.
    """
    layers = getattr(base_model, "layers", None)
    if layers is None:
        raise TypeError(f"expected a Keras model with .layers, got {type(base_model).__name__}")
    # Flags live on the model, on each layer and on each variable; save all three and restore
    # them in that order (each setter overwrites the levels below it).
    saved_model_flag = base_model.trainable
    saved_layers = [layer.trainable for layer in layers]
    saved_variables = [(v, v.trainable) for v in base_model.weights]
    try:
        for layer in layers:
            layer.trainable = True
        counts = [(layer.name, is_batch_norm(layer), trainable_params(layer))
                  for layer in layers]
    finally:
        base_model.trainable = saved_model_flag
        for layer, flag in zip(layers, saved_layers, strict=True):
            layer.trainable = flag
        for variable, flag in saved_variables:
            variable.trainable = flag
    return counts


def count_trainable(counts: Sequence[tuple[str, bool, int]], n: int,
                    train_batch_norm: bool = False) -> int:
    """Parameters that train when the top ``n`` layers are unfrozen.

    Args:
        counts: the output of :func:`trainable_counts`.
        n: how many layers, counted from the top, are unfrozen (0 = all frozen).
        train_batch_norm: whether the unfrozen BatchNormalization layers train too.

    Returns:
        The number of trainable parameters.

    Raises:
        ValueError: ``n`` is negative or larger than the number of layers.
    """
    if not 0 <= n <= len(counts):
        raise ValueError(f"n must be between 0 and {len(counts)} (the number of layers), got {n}")
    top = counts[len(counts) - n:] if n else []
    return sum(size for _, is_bn, size in top if train_batch_norm or not is_bn)


def unfreeze_slider(base_model: Any, value: int = 0) -> Any:
    """A slider over "unfreeze the top N layers" that shows how many parameters would train.

    "The top N layers" are the last N entries of ``base_model.layers`` (as in
    :func:`course_utils.training.unfreeze_top`); the text also says when N cuts a block of a
    ``keras.applications``-style backbone in two.

    Args:
        base_model: the backbone (its ``trainable`` flags are not changed).
        value: the slider's starting position.

    Returns:
        ``ipywidgets.VBox([slider, batch_norm_checkbox, text])``; ``text.value`` is HTML.

    Raises:
        TypeError: ``base_model`` is not a Keras model.
        ValueError: ``value`` is out of range.
    """
    import ipywidgets as widgets

    counts = trainable_counts(base_model)
    total = count_trainable(counts, len(counts), train_batch_norm=True)
    if not 0 <= value <= len(counts):
        raise ValueError(f"value must be between 0 and {len(counts)}, got {value}")
    slider = widgets.IntSlider(value=value, min=0, max=len(counts), step=1,
                               description="unfreeze top", continuous_update=True,
                               style={"description_width": "initial"},
                               layout=widgets.Layout(width="60%"))
    batch_norm = widgets.Checkbox(value=False, description="train BatchNormalization too")
    text = widgets.HTML()
    names = [name for name, _, _ in counts]
    has_blocks = any(block_of(name) for name in names)

    def update(_change: Any = None) -> None:
        n = slider.value
        trained = count_trainable(counts, n, batch_norm.value)
        first = counts[len(counts) - n][0] if n else "-"
        frozen_bn = sum(1 for _, is_bn, _ in counts[len(counts) - n:] if is_bn) if n else 0
        bn_note = ("BatchNormalization layers train too (their statistics drift: see lesson 4)"
                   if batch_norm.value else f"{frozen_bn} BatchNormalization layers kept frozen")
        split = split_block(names, n)
        if split:
            block, frozen, opened = split
            block_note = (f"; <b>cuts <code>{html.escape(block)}</code> in two</b> ({frozen} of "
                          f"its layers frozen, {opened} open): move to a block boundary")
        else:
            block_note = "; the cut lies between blocks" if has_blocks else ""
        text.value = (f"<b>{n}</b> of {len(counts)} layers unfrozen (from "
                      f"<code>{html.escape(first)}</code> up): <b>{trained:,}</b> trainable "
                      f"parameters of {total:,} ({100 * trained / max(total, 1):.1f}%); {bn_note}"
                      f"{block_note}")

    slider.observe(update, names="value")
    batch_norm.observe(update, names="value")
    update()
    return widgets.VBox([slider, batch_norm, text])


def _top_k_html(probs: np.ndarray, class_names: Sequence[str], top: int, title: str) -> str:
    order = np.argsort(probs)[::-1][:top]
    rows = "".join(f"<tr><td>{i + 1}</td><td>{html.escape(class_names[k])}</td>"
                   f"<td>{probs[k]:.3f}</td></tr>" for i, k in enumerate(order))
    return (f"<b>{html.escape(title)}</b><table><tr><th>#</th><th>class</th>"
            f"<th>probability</th></tr>{rows}</table>")


def preprocessing_toggle(model: Any, image: np.ndarray,
                         preprocessors: Mapping[str, Callable[[np.ndarray], Any]],
                         class_names: Sequence[str] | None = None, top: int = 5) -> Any:
    """Toggle buttons, one per preprocessing, showing the model's top classes for one image.

    Args:
        model: a classifier whose output is one probability (or logit) per class.
        image: one image, ``(H, W, 3)`` RGB in 0..255, already the model's input size.
        preprocessors: name -> function applied to the ``(1, H, W, 3)`` float batch.
        class_names: names of the classes (None: the 1000 ImageNet classes).
        top: how many classes to show.

    Returns:
        ``ipywidgets.VBox([buttons, text])``; ``text.value`` is an HTML table.

    Raises:
        ValueError: no preprocessors, or an image that is not ``(H, W, 3)``.
    """
    import ipywidgets as widgets

    if not preprocessors:
        raise ValueError("give at least one preprocessing: {'name': function}")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (height, width, 3) RGB, got shape {image.shape}")
    if class_names is None:
        from ..models import imagenet

        class_names = imagenet.class_names()
    batch = image[None].astype("float32")
    cache: dict[str, np.ndarray] = {}

    def probabilities(name: str) -> np.ndarray:
        if name not in cache:
            out = np.asarray(model.predict(preprocessors[name](batch.copy()), verbose=0))[0]
            if out.min() < 0 or abs(out.sum() - 1) > 1e-3:  # logits: turn into probabilities
                out = np.exp(out - out.max())
                out = out / out.sum()
            cache[name] = out
        return cache[name]

    buttons = widgets.ToggleButtons(options=list(preprocessors), description="preprocessing")
    text = widgets.HTML()

    def update(_change: Any = None) -> None:
        text.value = _top_k_html(probabilities(buttons.value), class_names, top, buttons.value)

    buttons.observe(update, names="value")
    update()
    return widgets.VBox([buttons, text])


def search_box(corpus: Sequence[str],
               search: Callable[[str, Sequence[str], int], list[tuple[str, float]]],
               query: str = "", top_k: int = 3) -> Any:
    """A text box: type a query, see the ``top_k`` closest sentences of ``corpus`` and scores.

    Args:
        corpus: the sentences to search.
        search: ``search(query, corpus, top_k) -> [(sentence, score), ...]``, e.g.
            ``course_utils.text.search``.
        query: the starting query.
        top_k: how many results to show.

    Returns:
        ``ipywidgets.VBox([box, text])``; ``text.value`` is an HTML list.

    Raises:
        ValueError: an empty corpus.
    """
    import ipywidgets as widgets

    if not corpus:
        raise ValueError("corpus is empty: give a list of sentences to search")
    box = widgets.Text(value=query, description="query", continuous_update=False,
                       layout=widgets.Layout(width="80%"))
    text = widgets.HTML()

    def update(_change: Any = None) -> None:
        if not box.value.strip():
            text.value = "<i>type a query</i>"
            return
        hits = search(box.value, list(corpus), top_k)
        text.value = "<ol>" + "".join(f"<li>{score:.3f} &nbsp; {html.escape(sentence)}</li>"
                                      for sentence, score in hits) + "</ol>"

    box.observe(update, names="value")
    update()
    return widgets.VBox([box, text])
