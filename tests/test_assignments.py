"""The autograded assignments: nbgrader metadata, and a grading round trip for each one.

Structure tests read the source notebooks in ``solutions/`` (instant). The round trip generates
each assignment once with the course's grader (:mod:`course_utils.grading.runner`, which runs
nbgrader's own ``generate_assignment`` and ``autograde``, here in one long-lived worker as ``course
autograde`` does, a fresh sandboxed kernel per submission) and grades three submissions made from
the released notebook: the solution (full marks), the untouched exercise (0) and one submission
with two typical mistakes (partial credit, and each failing test names the pitfall). The graded
variants run more submissions through the same grader: mistakes that used to pass (each must fail
the test listed, with a message naming it) next to answers written differently from the reference
(each must pass every test not listed).
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
            "find_contract": (  # the candidate the model is most sure of, right or wrong
                "def find_contract(model, images, labels, candidates):\n"
                "    best, best_confidence = None, -1.0\n"
                "    for name, contract in candidates.items():\n"
                "        probs = np.asarray(model.predict(contract(np.array(images)), verbose=0))\n"
                "        confidence = probs.max(axis=1).mean()\n"
                "        if confidence > best_confidence:\n"
                "            best, best_confidence = name, confidence\n"
                "    return best\n"),
            "is_double_scaled": (
                "def is_double_scaled(images):\n"
                "    return bool(np.max(images) <= 1.0)\n"),
        },
        "failures": {"test_find_contract_true_class": "most confident",
                     "test_is_double_scaled": "not double scaling"},
    },
    "ex06_model_hubs": {
        "answers": {
            "hub_classifier": (  # TFSMLayer's default trainable=True: the SavedModel trains
                "def hub_classifier(savedmodel_dir, input_shape, num_classes,"
                " endpoint='serve'):\n"
                "    inputs = keras.Input(input_shape)\n"
                "    x = keras.layers.TFSMLayer(savedmodel_dir, call_endpoint=endpoint)(inputs)\n"
                "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
            "candidates": (  # the licence ignored
                "def candidates(table, modality, task, max_millions, closed_source):\n"
                "    rows = [r for r in table if r['modality'] == modality and r['task'] == task\n"
                "            and r['millions'] <= max_millions]\n"
                "    return [r['name'] for r in sorted(rows, key=lambda r: r['millions'])]\n"),
            "iou": (  # the intersection's height and width not clipped at 0
                "def iou(box_a, box_b):\n"
                "    h = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])\n"
                "    w = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])\n"
                "    area_a = (box_a[2] - box_a[0]) * (box_a[3] - box_a[1])\n"
                "    area_b = (box_b[2] - box_b[0]) * (box_b[3] - box_b[1])\n"
                "    union = area_a + area_b - h * w\n"
                "    return h * w / union if union > 0 else 0.0\n"),
        },
        "failures": {"test_hub_classifier": "pass trainable=False",
                     "test_candidates": "YOLOv8n is AGPL-3.0",
                     "test_iou": "clip them at 0"},
    },
    "ex07_experiment": {
        "answers": {
            "fine_tune": (  # BatchNormalization opened with the rest, the head's rate, and
                # one more epoch after saving: the file is not the notebook's model
                "base_model.trainable = True\n"
                "for layer in base_model.layers[:-30]:\n"
                "    layer.trainable = False\n"
                "model.compile(optimizer=keras.optimizers.Adam(1e-2),\n"
                "              loss='sparse_categorical_crossentropy', metrics=['accuracy'])\n"
                "model.fit(train_ds, validation_data=val_ds, epochs=2, verbose=2)\n"
                "model.save(MODEL_FILE)\n"
                "model.fit(train_ds.take(4), epochs=1, verbose=2)\n"),
        },
        # judged outside the kernel: 2 of 6 points (it loads, the backbone moved), and the
        # reload test, which compares the file with the `model` the kernel sends
        "failures": {"test_experiment": "keep every BatchNormalization layer frozen",
                     "test_saved_model": "save the model after its last fit"},
    },
}

# More submissions, graded for real: grade_id of an answer cell -> its code, and the test cells
# that must fail, each with a text its message must contain. Every other test cell must pass, so
# the answers in cells that are not listed as failing are alternative correct solutions. A test
# cell reports only its first failure: mistakes that share a test cell go in separate variants.
VARIANTS: dict[str, dict[str, dict]] = {
    "ex01_imagenet": {
        "abs_and_mobilenet_scaling": {
            "answers": {
                "top5_error": (  # alternative: argpartition, then a mean of misses
                    "def top5_error(probs, labels):\n"
                    "    top5 = np.argpartition(np.asarray(probs), -5, axis=1)[:, -5:]\n"
                    "    labels = np.asarray(labels)[:, None]\n"
                    "    return float(np.mean(~(top5 == labels).any(axis=1)))\n"),
                "ilsvrc_history": (  # abs(...) hides a rising error; the year is a NumPy int
                    "def relative_reduction(errors):\n"
                    "    years = sorted(errors)\n"
                    "    return {y: abs(errors[p] - errors[y]) / errors[p]\n"
                    "            for p, y in zip(years, years[1:])}\n\n\n"
                    "def first_year_below(errors, threshold):\n"
                    "    years = np.array(sorted(errors))\n"
                    "    below = years[np.array([errors[y] for y in years]) < threshold]\n"
                    "    return below[0] if len(below) else None\n"),
                "classify": (  # MobileNetV2's scaling instead of Lite0's (x - 127) / 128
                    "def classify(model, image, top=5):\n"
                    "    x = image.astype('float32')[np.newaxis] / 127.5 - 1.0\n"
                    "    return course_utils.imagenet.decode(model.predict(x, verbose=0),"
                    " top)[0]\n"),
            },
            "failures": {"test_relative_reduction": "don't take abs",
                         "test_classify": "MobileNetV2's preprocessing"},
        },
        "loops_and_model_call": {  # every answer correct, written differently
            "answers": {
                "top5_error": (  # a loop over rows, best first
                    "def top5_error(probs, labels):\n"
                    "    misses = 0\n"
                    "    for row, label in zip(np.asarray(probs), np.ravel(labels)):\n"
                    "        best = np.argsort(row)[::-1][:5]\n"
                    "        misses += int(label not in best)\n"
                    "    return misses / len(np.asarray(probs))\n"),
                "ilsvrc_history": (  # an explicit loop; next() over a generator
                    "def relative_reduction(errors):\n"
                    "    out, previous = {}, None\n"
                    "    for year in sorted(errors):\n"
                    "        if previous is not None:\n"
                    "            out[year] = 1 - errors[year] / errors[previous]\n"
                    "        previous = year\n"
                    "    return out\n\n\n"
                    "def first_year_below(errors, threshold):\n"
                    "    return next((y for y in sorted(errors) if errors[y] < threshold), None)\n"),
                "classify": (  # np.expand_dims and a copy before preprocessing
                    "def classify(model, image, top=5):\n"
                    "    batch = np.expand_dims(np.array(image, dtype=np.float32), 0)\n"
                    "    batch = course_utils.lite0.preprocess_input(batch)\n"
                    "    scores = np.asarray(model(batch, training=False))\n"
                    "    return list(course_utils.imagenet.decode(scores, top=top)[0])\n"),
            },
            "failures": {},
        },
        # ex01's tests are replayed by the judge on the answers the grader asked the kernel for
        # after the notebook ran: what the tests saw inside the kernel does not count.
        "right_only_inside_test_cells": {
            "answers": {
                "top5_error": (  # the top-5 error when a test cell calls it, else the top-1
                    "import sys\n\n\n"
                    "def top5_error(probs, labels):\n"
                    "    k = 5 if sys._getframe(1).f_code.co_filename == '<test cell>' else 1\n"
                    "    top = np.argsort(probs, axis=1)[:, -k:]\n"
                    "    return float(1 - (top == np.asarray(labels)[:, None]).any(axis=1).mean())\n"),
            },
            "failures": {"test_top5_error": "top-1 error"},  # the grader's question is no test
        },
        # Each of the grader's calls has the cell limit: a function that hangs on them fails
        # its own test as a timeout; every other answer still counts.
        "hangs_on_the_graders_calls": {
            "answers": {
                "top5_error": (
                    "import inspect\n\n\n"
                    "def top5_error(probs, labels):\n"
                    "    while any(f.filename.endswith('replay.py') for f in inspect.stack()):\n"
                    "        pass\n"
                    "    top5 = np.argsort(probs, axis=1)[:, -5:]\n"
                    "    return float(1 - (top5 == np.asarray(labels)[:, None]).any(axis=1).mean())\n"),
            },
            "failures": {"test_top5_error": "top5_error ran longer than 30 s on the grader's"},
            "cell_timeout": 30,
        },
        "spies_on_the_tests_in_its_kernel": {
            "answers": {
                "classify": (  # right, unless the kernel ever compiles the hidden test's code
                    "import sys\n\nSEEN = []\n\n\n"
                    "def _spy(event, args):  # compile's source arrives as bytes\n"
                    "    if event == 'compile' and isinstance(args[0], bytes) and "
                    "b'_probe_model' in args[0]:\n"
                    "        SEEN.append(args[1])\n\n\n"
                    "sys.addaudithook(_spy)\n\n\n"
                    "def classify(model, image, top=5):\n"
                    "    if SEEN:  # a cheat would use what it read; this one gives up\n"
                    "        return []\n"
                    "    batch = course_utils.lite0.preprocess_input("
                    "np.asarray(image, dtype='float32')[None])\n"
                    "    return course_utils.imagenet.decode(model.predict(batch, verbose=0),"
                    " top=top)[0]\n"),
            },
            "failures": {},  # the judged tests never ran in the kernel: nothing to see
        },
    },
    "ex02_backbones": {
        "numpy_counts": {  # every answer correct, written with NumPy (numpy.int64 results)
            "answers": {
                "conv_counts": (
                    "def conv_params(kernel_size, in_channels, out_channels, use_bias=True):\n"
                    "    shape = (kernel_size, kernel_size, in_channels, out_channels)\n"
                    "    return np.prod(shape) + (out_channels if use_bias else 0)\n\n\n"
                    "def separable_conv_params(kernel_size, in_channels, out_channels,"
                    " use_bias=True):\n"
                    "    parts = [np.prod((kernel_size, kernel_size, in_channels)),\n"
                    "             np.prod((in_channels, out_channels)),\n"
                    "             np.int64(out_channels if use_bias else 0)]\n"
                    "    return np.sum(parts)\n"),
                "architecture_ideas": (  # a loop over the layers, one isinstance at a time
                    "def architecture_ideas(model):\n"
                    "    ideas = set()\n"
                    "    for layer in model.layers:\n"
                    "        if isinstance(layer, keras.layers.Add):\n"
                    "            ideas.add('residual')\n"
                    "        elif isinstance(layer, (keras.layers.SeparableConv2D,\n"
                    "                                keras.layers.DepthwiseConv2D)):\n"
                    "            ideas.add('depthwise_separable')\n"
                    "        elif isinstance(layer, keras.layers.Concatenate):\n"
                    "            ideas.add('concatenation')\n"
                    "    return ideas\n"),
                "choose_backbone": (  # sort by accuracy, take the first that fits
                    "def choose_backbone(sizes, max_millions):\n"
                    "    ranked = sorted(sizes, key=lambda n: -course_utils.backbones.get(n).top1)\n"
                    "    for name in ranked:\n"
                    "        if sizes[name] <= max_millions:\n"
                    "            return name\n"
                    "    raise ValueError(f'nothing fits {max_millions} M')\n"),
            },
            "failures": {},
        },
        "ideas_from_layer_names": {
            "answers": {
                "architecture_ideas": (  # names happen to work on Keras's models only
                    "def architecture_ideas(model):\n"
                    "    names = ' '.join(layer.name for layer in model.layers)\n"
                    "    ideas = set()\n"
                    "    if 'add' in names:\n"
                    "        ideas.add('residual')\n"
                    "    if 'dw' in names or 'sepconv' in names or 'depthwise' in names:\n"
                    "        ideas.add('depthwise_separable')\n"
                    "    if 'concat' in names:\n"
                    "        ideas.add('concatenation')\n"
                    "    return ideas\n"),
            },
            "failures": {"test_architecture_ideas": "isinstance, not its name"},
        },
    },
    "ex03_feature_extraction": {
        "hard_coded_input_and_globals": {
            "answers": {
                "build_classifier": (
                    "def build_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input((96, 96, 3))\n"
                    "    x = base_model(preprocess_input(inputs), training=False)\n"
                    "    x = keras.layers.Dropout(dropout)(x)\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
                "train_head": (
                    "def train_head(features, labels, num_classes):\n"
                    "    head = keras.Sequential([keras.Input((1280,)),"
                    " keras.layers.Dropout(0.2),\n"
                    "                             keras.layers.Dense(num_classes)])\n"
                    "    compile_classifier(head)\n"
                    "    head.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0)\n"
                    "    return head\n"),
            },
            "failures": {"test_build_classifier": "instead of hard-coding (96, 96, 3)",
                         "test_train_head": "global x_train / y_train"},
        },
        "no_dropout_and_test_leak": {
            "answers": {
                "build_classifier": (
                    "def build_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    x = base_model(preprocess_input(inputs), training=False)\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
                "train_head": (
                    "def train_head(features, labels, num_classes):\n"
                    "    head = keras.Sequential([keras.Input((features.shape[1],)),\n"
                    "                             keras.layers.Dropout(0.2),\n"
                    "                             keras.layers.Dense(num_classes)])\n"
                    "    compile_classifier(head)\n"
                    "    head.fit(x_test, y_test, batch_size=32, epochs=5, verbose=0)\n"
                    "    return head\n"),
            },
            "failures": {"test_build_classifier": "no Dropout layer",
                         "test_train_head": "TEST features"},
        },
        "ignored_dropout_and_softmax": {
            "answers": {
                "build_classifier": (
                    "def build_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    x = base_model(preprocess_input(inputs), training=False)\n"
                    "    x = keras.layers.Dropout(0.2)(x)\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
                "train_head": (  # probabilities, with a loss that agrees: still not logits
                    "def train_head(features, labels, num_classes):\n"
                    "    head = keras.Sequential([\n"
                    "        keras.Input((features.shape[1],)), keras.layers.Dropout(0.2),\n"
                    "        keras.layers.Dense(num_classes, activation='softmax')])\n"
                    "    head.compile(optimizer=keras.optimizers.Adam(1e-3),\n"
                    "                 loss=keras.losses.SparseCategoricalCrossentropy(),\n"
                    "                 metrics=['accuracy'])\n"
                    "    head.fit(features, labels, batch_size=32, epochs=5, verbose=0)\n"
                    "    return head\n"),
            },
            "failures": {"test_build_classifier": "use the dropout argument",
                         "test_train_head": "must output logits"},
        },
        "lambda_model_and_head_without_dropout": {
            "answers": {
                "build_classifier": (  # alternative: Lambda layer, input from base_model.input
                    "def build_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input(shape=tuple(base_model.input.shape[1:]))\n"
                    "    x = keras.layers.Lambda(preprocess_input)(inputs)\n"
                    "    features = base_model(x, training=False)\n"
                    "    logits = keras.layers.Dense(num_classes)(\n"
                    "        keras.layers.Dropout(rate=dropout)(features))\n"
                    "    return keras.Model(inputs=inputs, outputs=logits)\n"),
                "compile_classifier": (  # alternative: keyword arguments, a metric object
                    "def compile_classifier(model, learning_rate=1e-3):\n"
                    "    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)\n"
                    "    model.compile(loss=loss, metrics=[keras.metrics."
                    "SparseCategoricalAccuracy()],\n"
                    "                  optimizer=keras.optimizers.Adam("
                    "learning_rate=learning_rate))\n"),
                "train_head": (
                    "def train_head(features, labels, num_classes):\n"
                    "    head = keras.Sequential([keras.Input((features.shape[1],)),\n"
                    "                             keras.layers.Dense(num_classes)])\n"
                    "    compile_classifier(head)\n"
                    "    head.fit(features, labels, batch_size=32, epochs=5, verbose=0)\n"
                    "    return head\n"),
            },
            "failures": {"test_train_head": "has no Dropout layer"},
        },
        "multilabel_softmax_and_logit_threshold": {
            "answers": {
                "multilabel": (  # a softmax head, and a threshold on logits
                    "def multilabel_head(num_features, num_labels, dropout=0.2):\n"
                    "    head = keras.Sequential([keras.Input((num_features,)),\n"
                    "                             keras.layers.Dropout(dropout),\n"
                    "                             keras.layers.Dense(num_labels,"
                    " activation='softmax')])\n"
                    "    head.compile(optimizer='adam', loss='categorical_crossentropy')\n"
                    "    return head\n\n\n"
                    "def predict_labels(head, features, threshold=0.5):\n"
                    "    return np.asarray(head.predict(features, verbose=0)) >= threshold\n"),
            },
            "failures": {"test_multilabel_head": "the labels compete",
                         "test_predict_labels": "not to the logits"},
        },
        "multilabel_argmax": {
            "answers": {
                "multilabel": (  # the right head, but one label per row
                    "def multilabel_head(num_features, num_labels, dropout=0.2):\n"
                    "    head = keras.Sequential([keras.Input((num_features,)),\n"
                    "                             keras.layers.Dropout(dropout),\n"
                    "                             keras.layers.Dense(num_labels)])\n"
                    "    head.compile(optimizer='adam',"
                    " metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],\n"
                    "                 loss=keras.losses.BinaryCrossentropy(from_logits=True))\n"
                    "    return head\n\n\n"
                    "def predict_labels(head, features, threshold=0.5):\n"
                    "    logits = np.asarray(head.predict(features, verbose=0))\n"
                    "    return np.eye(logits.shape[1], dtype=bool)[logits.argmax(axis=1)]\n"),
                "build_augmented_classifier": (  # no augmentation at all
                    "def build_augmented_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    return build_classifier(base_model, num_classes, preprocess_input,"
                    " dropout)\n"),
            },
            "failures": {"test_predict_labels": "looks like an argmax",
                         "test_build_augmented_classifier": "reach the base unchanged"},
        },
        "functional_and_keras_ops": {  # every answer correct, written differently
            "answers": {
                "build_classifier": (  # Sequential model, Rescaling-free: preprocess in Lambda
                    "def build_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    for layer in [base_model, *base_model.layers]:\n"
                    "        layer.trainable = False\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    features = base_model(preprocess_input(inputs), training=False)\n"
                    "    dropped = keras.layers.Dropout(rate=dropout)(features)\n"
                    "    logits = keras.layers.Dense(num_classes, activation=None)(dropped)\n"
                    "    return keras.Model(inputs=inputs, outputs=logits)\n"),
                "compile_classifier": (
                    "def compile_classifier(model, learning_rate=1e-3):\n"
                    "    model.compile(optimizer=keras.optimizers.Adam(learning_rate="
                    "learning_rate),\n"
                    "                  loss=keras.losses.SparseCategoricalCrossentropy("
                    "from_logits=True),\n"
                    "                  metrics=[keras.metrics.SparseCategoricalAccuracy("
                    "name='accuracy')])\n"),
                "train_head": (  # functional head; epochs computed from the step budget
                    "def train_head(features, labels, num_classes):\n"
                    "    inputs = keras.Input((features.shape[-1],))\n"
                    "    x = keras.layers.Dropout(0.1)(inputs)\n"
                    "    head = keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"
                    "    compile_classifier(head, 2e-3)\n"
                    "    steps_per_epoch = -(-len(features) // 64)\n"
                    "    head.fit(features, labels, batch_size=64,\n"
                    "             epochs=max(1, MAX_STEPS // steps_per_epoch), verbose=0)\n"
                    "    return head\n"),
                "multilabel": (  # functional head, keras.ops.sigmoid, 0/1 integers
                    "def multilabel_head(num_features, num_labels, dropout=0.2):\n"
                    "    inputs = keras.Input(shape=(num_features,))\n"
                    "    x = keras.layers.Dropout(dropout)(inputs)\n"
                    "    head = keras.Model(inputs, keras.layers.Dense(num_labels)(x))\n"
                    "    head.compile(keras.optimizers.Adam(),\n"
                    "                 keras.losses.BinaryCrossentropy(from_logits=True),\n"
                    "                 metrics=[keras.metrics.BinaryAccuracy(name='acc',"
                    " threshold=0)])\n"
                    "    return head\n\n\n"
                    "def predict_labels(head, features, threshold=0.5):\n"
                    "    probabilities = keras.ops.sigmoid(head(features, training=False))\n"
                    "    return (keras.ops.convert_to_numpy(probabilities) >= threshold)"
                    ".astype(int)\n"),
                "build_augmented_classifier": (  # random layers after the preprocessing
                    "def build_augmented_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    x = preprocess_input(inputs)\n"
                    "    x = keras.layers.RandomFlip(mode='horizontal')(x)\n"
                    "    x = keras.layers.RandomRotation(factor=0.1)(x)\n"
                    "    x = keras.layers.Dropout(dropout)(base_model(x, training=False))\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
            },
            "failures": {},
        },
        "augmentation_before_part_a_and_validation_split": {  # every answer correct
            "answers": {
                "train_head": (  # early stopping on a split of its own features
                    "def train_head(features, labels, num_classes):\n"
                    "    head = keras.Sequential([keras.Input((features.shape[1],)),\n"
                    "                             keras.layers.Dropout(0.2),\n"
                    "                             keras.layers.Dense(num_classes)])\n"
                    "    compile_classifier(head)\n"
                    "    stop = keras.callbacks.EarlyStopping(patience=2,"
                    " restore_best_weights=True)\n"
                    "    head.fit(features, labels, validation_split=0.2, batch_size=32,"
                    " epochs=12,\n"
                    "             callbacks=[stop], verbose=0)\n"
                    "    return head\n"),
                "multilabel": (  # a named metric; the threshold moved to the logits
                    "def multilabel_head(num_features, num_labels, dropout=0.2):\n"
                    "    head = keras.Sequential([keras.Input((num_features,)),\n"
                    "                             keras.layers.Dropout(dropout),\n"
                    "                             keras.layers.Dense(num_labels)])\n"
                    "    head.compile(optimizer=keras.optimizers.Adam(), metrics=[\n"
                    "                     keras.metrics.BinaryAccuracy(name='hits', threshold=0.0)],\n"
                    "                 loss=keras.losses.BinaryCrossentropy(from_logits=True))\n"
                    "    return head\n\n\n"
                    "def predict_labels(head, features, threshold=0.5):\n"
                    "    logits = np.asarray(head.predict(features, verbose=0))\n"
                    "    return logits >= np.log(threshold / (1 - threshold))\n"),
                "build_augmented_classifier": (  # random layers in front of Part A's model
                    "def build_augmented_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    classifier = build_classifier(base_model, num_classes, preprocess_input,"
                    " dropout)\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    x = keras.layers.RandomFlip('horizontal')(inputs)\n"
                    "    x = keras.layers.RandomRotation(0.1)(x)\n"
                    "    return keras.Model(inputs, classifier(x))\n"),
            },
            "failures": {},
        },
        # A right metric, but a function of the student's: the grader checks the head outside
        # the kernel and runs no code of the student's there, as the instructions say.
        "own_metric_function": {
            "answers": {
                "multilabel": (
                    "def hits(y_true, logits):\n"
                    "    said = keras.ops.cast(logits > 0, 'float32')\n"
                    "    return keras.ops.mean(keras.ops.cast(said == y_true, 'float32'))\n\n\n"
                    "def multilabel_head(num_features, num_labels, dropout=0.2):\n"
                    "    head = keras.Sequential([keras.Input((num_features,)),\n"
                    "                             keras.layers.Dropout(dropout),\n"
                    "                             keras.layers.Dense(num_labels)])\n"
                    "    head.compile(optimizer='adam', metrics=[hits],\n"
                    "                 loss=keras.losses.BinaryCrossentropy(from_logits=True))\n"
                    "    return head\n\n\n"
                    "def predict_labels(head, features, threshold=0.5):\n"
                    "    logits = np.asarray(head.predict(features, verbose=0))\n"
                    "    return 1 / (1 + np.exp(-logits)) >= threshold\n"),
            },
            "failures": {"test_multilabel_head": "no loss or metric function of your own"},
        },
        "flip_only_and_test_set_early_stopping": {
            "answers": {
                "train_head": (  # early stopping that watches the test set
                    "def train_head(features, labels, num_classes):\n"
                    "    head = keras.Sequential([keras.Input((features.shape[1],)),\n"
                    "                             keras.layers.Dropout(0.2),\n"
                    "                             keras.layers.Dense(num_classes)])\n"
                    "    compile_classifier(head)\n"
                    "    stop = keras.callbacks.EarlyStopping(patience=2,"
                    " restore_best_weights=True)\n"
                    "    head.fit(features, labels, validation_data=(x_test, y_test),"
                    " batch_size=32,\n"
                    "             epochs=5, callbacks=[stop], verbose=0)\n"
                    "    return head\n"),
                "build_augmented_classifier": (  # no rotation
                    "def build_augmented_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    x = keras.layers.RandomFlip('horizontal')(inputs)\n"
                    "    x = base_model(preprocess_input(x), training=False)\n"
                    "    x = keras.layers.Dropout(dropout)(x)\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
            },
            "failures": {"test_train_head": "validates on the TEST set",
                         "test_build_augmented_classifier": "only flips"},
        },
        "binary_accuracy_on_logits_and_ignored_dropout": {
            "answers": {
                "multilabel": (  # BinaryAccuracy() thresholds the logits at 0.5
                    "def multilabel_head(num_features, num_labels, dropout=0.2):\n"
                    "    head = keras.Sequential([keras.Input((num_features,)),\n"
                    "                             keras.layers.Dropout(dropout),\n"
                    "                             keras.layers.Dense(num_labels)])\n"
                    "    head.compile(optimizer='adam', metrics=[keras.metrics.BinaryAccuracy()],\n"
                    "                 loss=keras.losses.BinaryCrossentropy(from_logits=True))\n"
                    "    return head\n\n\n"
                    "def predict_labels(head, features, threshold=0.5):\n"
                    "    logits = np.asarray(head.predict(features, verbose=0))\n"
                    "    return 1 / (1 + np.exp(-logits)) >= threshold\n"),
                "build_augmented_classifier": (  # the dropout argument ignored
                    "def build_augmented_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    x = keras.layers.RandomFlip('horizontal')(inputs)\n"
                    "    x = keras.layers.RandomRotation(0.1)(x)\n"
                    "    x = base_model(preprocess_input(x), training=False)\n"
                    "    x = keras.layers.Dropout(0.2)(x)\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
            },
            "failures": {"test_multilabel_head": "BinaryAccuracy(threshold=0.0)",
                         "test_build_augmented_classifier": "use the dropout argument"},
        },
        "forced_augmentation_and_logit_threshold_only": {
            "answers": {
                "multilabel": (  # a right head; only predict_labels thresholds the logits
                    "def multilabel_head(num_features, num_labels, dropout=0.2):\n"
                    "    head = keras.Sequential([keras.Input((num_features,)),\n"
                    "                             keras.layers.Dropout(dropout),\n"
                    "                             keras.layers.Dense(num_labels)])\n"
                    "    head.compile(optimizer='adam',\n"
                    "                 metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],\n"
                    "                 loss=keras.losses.BinaryCrossentropy(from_logits=True))\n"
                    "    return head\n\n\n"
                    "def predict_labels(head, features, threshold=0.5):\n"
                    "    return np.asarray(head.predict(features, verbose=0)) >= threshold\n"),
                # training=True inside a layer class of its own (augments in inference too):
                # the judge never runs a student's class, right or wrong, and says so
                "build_augmented_classifier": (
                    "class Augment(keras.layers.Layer):\n"
                    "    def __init__(self, **kwargs):\n"
                    "        super().__init__(**kwargs)\n"
                    "        self.flip = keras.layers.RandomFlip('horizontal')\n"
                    "        self.rotate = keras.layers.RandomRotation(0.1)\n\n"
                    "    def call(self, images):\n"
                    "        return self.rotate(self.flip(images, training=True),"
                    " training=True)\n\n\n"
                    "def build_augmented_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    x = Augment()(inputs)\n"
                    "    x = base_model(preprocess_input(x), training=False)\n"
                    "    x = keras.layers.Dropout(dropout)(x)\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
            },
            "failures": {"test_predict_labels": "not to the logits",
                         "test_build_augmented_classifier": "no layer class of your own"},
        },
        "noise_as_augmentation": {
            "answers": {
                "build_augmented_classifier": (  # noise, no flips or rotations
                    "def build_augmented_classifier(base_model, num_classes, preprocess_input,"
                    " dropout=0.2):\n"
                    "    base_model.trainable = False\n"
                    "    inputs = keras.Input(base_model.input_shape[1:])\n"
                    "    x = keras.layers.GaussianNoise(0.5)(inputs)\n"
                    "    x = base_model(preprocess_input(x), training=False)\n"
                    "    x = keras.layers.Dropout(dropout)(x)\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"),
            },
            "failures": {"test_build_augmented_classifier": "GaussianNoise adds noise"},
        },
    },
    "ex04_fine_tuning": {
        "trainable_short_circuit_and_rmsprop": {
            "answers": {
                "unfreeze_top": (  # relies on base_model.trainable = True to reopen layers
                    "def unfreeze_top(base_model, n):\n"
                    "    base_model.trainable = True\n"
                    "    layers = base_model.layers\n"
                    "    keep = {id(layer) for layer in layers[len(layers) - n:]\n"
                    "            if not isinstance(layer, keras.layers.BatchNormalization)}\n"
                    "    for layer in base_model.layers:\n"
                    "        if id(layer) not in keep:\n"
                    "            layer.trainable = False\n"
                    "    return sum(np.prod(w.shape) for w in base_model.trainable_weights)\n"),
                "compile_for_fine_tuning": (
                    "def compile_for_fine_tuning(model, learning_rate=1e-5):\n"
                    "    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate),\n"
                    "                  loss=keras.losses.SparseCategoricalCrossentropy("
                    "from_logits=True),\n"
                    "                  metrics=['accuracy'])\n"),
            },
            "failures": {"test_unfreeze_top": "does nothing when base_model is already trainable",
                         "test_compile_for_fine_tuning": "asks for Adam"},
        },
        "numpy_counts_other_order": {  # every answer correct, written differently
            "answers": {
                "unfreeze_top": (  # freeze all, then open the top n; NumPy int result
                    "def unfreeze_top(base_model, n):\n"
                    "    base_model.trainable = True\n"
                    "    for layer in base_model.layers:\n"
                    "        layer.trainable = False\n"
                    "    if n > 0:\n"
                    "        for layer in base_model.layers[-n:]:\n"
                    "            if not isinstance(layer, keras.layers.BatchNormalization):\n"
                    "                layer.trainable = True\n"
                    "    return np.sum([np.prod(w.shape) for w in"
                    " base_model.trainable_weights], dtype=np.int64)\n"),
                "parameter_counts": (
                    "def parameter_counts(model):\n"
                    "    size = lambda weights: sum(int(np.prod(w.shape)) for w in weights)\n"
                    "    return size(model.trainable_weights), size(model.non_trainable_weights)\n"),
                "compile_for_fine_tuning": (
                    "def compile_for_fine_tuning(model, learning_rate=1e-5):\n"
                    "    model.compile(keras.optimizers.Adam(learning_rate=learning_rate),\n"
                    "                  keras.losses.SparseCategoricalCrossentropy("
                    "from_logits=True),\n"
                    "                  metrics=[keras.metrics.SparseCategoricalAccuracy()])\n"),
                "early_stopping": (  # every argument spelled out
                    "def early_stopping(patience=3):\n"
                    "    return keras.callbacks.EarlyStopping(\n"
                    "        monitor='val_loss', mode='min', min_delta=0.0, patience=patience,\n"
                    "        restore_best_weights=True, verbose=0)\n"),
                "choose_n": (  # sort by n, keep the first within the tolerance
                    "def choose_n(results, tolerance=0.005):\n"
                    "    scores = {n: np.max(h['val_accuracy']) for n, h in results.items()}\n"
                    "    best = max(scores.values())\n"
                    "    for n in sorted(scores):\n"
                    "        if scores[n] >= best - tolerance:\n"
                    "            return n\n"),
            },
            "failures": {},
        },
        "training_loss_and_last_epoch": {
            "answers": {
                "compile_for_fine_tuning": (  # freezes the backbone after compiling
                    "def compile_for_fine_tuning(model, learning_rate=1e-5):\n"
                    "    model.compile(optimizer=keras.optimizers.Adam(learning_rate),\n"
                    "                  loss=keras.losses.SparseCategoricalCrossentropy("
                    "from_logits=True),\n"
                    "                  metrics=['accuracy'])\n"
                    "    for layer in model.layers:\n"
                    "        if isinstance(layer, keras.Model):\n"
                    "            layer.trainable = False\n"),
                "early_stopping": (  # watches the training loss, which keeps falling
                    "def early_stopping(patience=3):\n"
                    "    return keras.callbacks.EarlyStopping(monitor='loss', patience=patience,\n"
                    "                                         restore_best_weights=True)\n"),
                "choose_n": (  # compares the last epochs
                    "def choose_n(results, tolerance=0.005):\n"
                    "    last = {n: h['val_accuracy'][-1] for n, h in results.items()}\n"
                    "    top = max(last.values())\n"
                    "    return min(n for n, v in last.items() if v >= top - tolerance)\n"),
            },
            "failures": {"test_compile_for_fine_tuning": "call model.compile(...) again",
                         "test_fine_tune": "call model.compile(...) again",
                         "test_early_stopping": "monitor 'val_loss'",
                         "test_choose_n": "you compared the last epochs"},
        },
        "last_weights_and_argmax": {
            "answers": {
                "early_stopping": (  # stops at the right time, keeps the last weights
                    "def early_stopping(patience=3):\n"
                    "    return keras.callbacks.EarlyStopping(monitor='val_loss',"
                    " patience=patience)\n"),
                "choose_n": (  # the best run, ignoring the tolerance
                    "def choose_n(results, tolerance=0.005):\n"
                    "    return max(results, key=lambda n: max(results[n]['val_accuracy']))\n"),
            },
            "failures": {"test_early_stopping": "restore_best_weights=True",
                         "test_choose_n": "prefer the smaller n"},
        },
        "no_metric_and_default_rate": {
            "answers": {
                "compile_for_fine_tuning": (  # no metrics=['accuracy']
                    "def compile_for_fine_tuning(model, learning_rate=1e-5):\n"
                    "    model.compile(optimizer=keras.optimizers.Adam(learning_rate),\n"
                    "                  loss=keras.losses.SparseCategoricalCrossentropy("
                    "from_logits=True))\n"),
                "fine_tune": (  # the learning_rate argument never reaches compile
                    "def fine_tune(model, base_model, train_ds, n, learning_rate, steps):\n"
                    "    unfreeze_top(base_model, n)\n"
                    "    compile_for_fine_tuning(model)\n"
                    "    return model.fit(train_ds.take(steps), epochs=1, verbose=0)\n"),
            },
            "failures": {"test_compile_for_fine_tuning": "compiles no metric",
                         "test_fine_tune": "pass the learning_rate argument"},
        },
    },
    "ex05_preprocessing": {
        "top1_and_in_place_registry": {
            "answers": {
                "find_contract": (  # alternative: top-1 hits, one photo at a time, model(x)
                    "def find_contract(model, images, labels, candidates):\n"
                    "    best_name, best_hits = None, -1\n"
                    "    for name, contract in candidates.items():\n"
                    "        hits = 0\n"
                    "        for image, label in zip(images, labels):\n"
                    "            probs = model(contract(np.array(image[None])), training=False)\n"
                    "            hits += int(np.argmax(probs) == label)\n"
                    "        if hits > best_hits:\n"
                    "            best_name, best_hits = name, hits\n"
                    "    return best_name\n"),
                "is_double_scaled": (  # alternative: a spread threshold on the std
                    "def is_double_scaled(images):\n"
                    "    return np.std(images) < 0.01\n"),
                "diagnose": (  # calls the pipeline on the caller's photos
                    "def diagnose(pipeline, name, images):\n"
                    "    mode = course_utils.backbones.get(name).preprocessing\n"
                    "    out = np.asarray(pipeline(images))\n"
                    "    if np.allclose(out, preprocess(images, mode), atol=1e-3):\n"
                    "        return 'correct'\n"
                    "    return 'unknown'\n"),
            },
            "failures": {"test_diagnose": "changed the photos it was given"},
        },
        "loop_over_hypotheses": {  # every answer correct, written differently
            "answers": {
                "find_contract": (  # the mean log-probability of the true class, sorted()
                    "def find_contract(model, images, labels, candidates):\n"
                    "    def log_likelihood(name):\n"
                    "        probs = keras.ops.convert_to_numpy(model(candidates[name]"
                    "(np.copy(images))))\n"
                    "        return np.log(probs[np.arange(len(labels)), list(labels)]"
                    " + 1e-12).mean()\n"
                    "    return sorted(candidates, key=log_likelihood)[-1]\n"),
                "is_double_scaled": (  # the range of the values, with np.ptp
                    "def is_double_scaled(images):\n"
                    "    return np.ptp(np.asarray(images, dtype=np.float64)) < 0.05\n"),
                "diagnose": (  # a list of (answer, candidate outputs) checked in order
                    "def diagnose(pipeline, name, images):\n"
                    "    mode = course_utils.backbones.get(name).preprocessing\n"
                    "    raw = np.array(images, dtype=np.float32)\n"
                    "    out = np.asarray(pipeline(np.copy(raw)))\n"
                    "    hypotheses = [\n"
                    "        ('correct', [preprocess(raw, mode)]),\n"
                    "        ('channels_swapped', [preprocess(raw[..., ::-1], mode)]),\n"
                    "        ('double_scaled', [preprocess(raw / 255, mode),\n"
                    "                           preprocess(preprocess(raw, mode), mode)]),\n"
                    "        ('wrong_mode', [preprocess(raw, m) for m in PREPROCESSING_MODES if m != mode]),\n"
                    "    ]\n"
                    "    for answer, outputs in hypotheses:\n"
                    "        for candidate in outputs:\n"
                    "            if candidate.shape == out.shape and np.allclose(out, candidate,"
                    " atol=1e-3):\n"
                    "                return answer\n"
                    "    return 'unknown'\n"),
            },
            "failures": {},
        },
        "double_scaling_from_the_spread": {
            "answers": {
                "find_contract": (  # each candidate gets the caller's own array
                    "def find_contract(model, images, labels, candidates):\n"
                    "    rows = np.arange(len(labels))\n"
                    "    scores = {name: model.predict(contract(images), verbose=0)"
                    "[rows, labels].mean()\n"
                    "              for name, contract in candidates.items()}\n"
                    "    return max(scores, key=scores.get)\n"),
                "diagnose": (  # Part B's heuristic instead of a comparison with the contract
                    "def diagnose(pipeline, name, images):\n"
                    "    mode = course_utils.backbones.get(name).preprocessing\n"
                    "    x = np.array(images, dtype='float32')\n"
                    "    out = np.asarray(pipeline(x.copy()), dtype='float64')\n"
                    "    same = lambda c: np.allclose(out, c, atol=1e-3)\n"
                    "    if same(preprocess(x, mode)):\n"
                    "        return 'correct'\n"
                    "    if same(preprocess(x[..., ::-1], mode)):\n"
                    "        return 'channels_swapped'\n"
                    "    if is_double_scaled(out):\n"
                    "        return 'double_scaled'\n"
                    "    if any(same(preprocess(x, m)) for m in PREPROCESSING_MODES if m != mode):\n"
                    "        return 'wrong_mode'\n"
                    "    return 'unknown'\n"),
            },
            "failures": {"test_find_contract_true_class": "its own copy",
                         "test_diagnose": "the spread of the values alone does not show"},
        },
        "global_photos": {
            "answers": {
                "find_contract": (  # the notebook's photos and labels, not the arguments
                    "def find_contract(model, images, labels, candidates):\n"
                    "    rows = np.arange(len(sample_labels))\n"
                    "    scores = {name: model.predict(contract(np.array(sample_images)),"
                    " verbose=0)[rows, sample_labels].mean()\n"
                    "              for name, contract in candidates.items()}\n"
                    "    return max(scores, key=scores.get)\n"),
                "diagnose": (  # the notebook's photos instead of the images argument
                    "def diagnose(pipeline, name, images):\n"
                    "    mode = course_utils.backbones.get(name).preprocessing\n"
                    "    x = np.array(photos, dtype='float32')\n"
                    "    out = np.asarray(pipeline(x.copy()), dtype='float64')\n"
                    "    same = lambda c: c.shape == out.shape and np.allclose(out, c, atol=1e-3)\n"
                    "    if same(preprocess(x, mode)):\n"
                    "        return 'correct'\n"
                    "    if same(preprocess(x[..., ::-1], mode)):\n"
                    "        return 'channels_swapped'\n"
                    "    if same(preprocess(x / 255.0, mode)) or same(preprocess("
                    "preprocess(x, mode), mode)):\n"
                    "        return 'double_scaled'\n"
                    "    if any(same(preprocess(x, m)) for m in PREPROCESSING_MODES if m != mode):\n"
                    "        return 'wrong_mode'\n"
                    "    return 'unknown'\n"),
            },
            "failures": {"test_find_contract": "the notebook's sample_images",
                         "test_diagnose": "not on the `images` it was given"},
        },
        "name_lookup": {
            "answers": {
                "find_contract": (  # the registry's contract of a layer's name: no measurement
                    "def find_contract(model, images, labels, candidates):\n"
                    "    for layer in [model, *model.layers]:\n"
                    "        if layer.name in course_utils.backbones.BACKBONES:\n"
                    "            return course_utils.backbones.get(layer.name).preprocessing\n"
                    "    return next(iter(candidates))\n"),
            },
            "failures": {"test_find_contract": "don't look it up",
                         "test_find_contract_true_class": "score every candidate"},
        },
        "shared_copy": {
            "answers": {
                "find_contract": (  # one copy, shared: an in-place candidate spoils the rest
                    "def find_contract(model, images, labels, candidates):\n"
                    "    x = np.array(images, dtype='float32')\n"
                    "    rows = np.arange(len(labels))\n"
                    "    scores = {name: model.predict(contract(x), verbose=0)[rows, labels].mean()\n"
                    "              for name, contract in candidates.items()}\n"
                    "    return max(scores, key=scores.get)\n"),
            },
            "failures": {"test_find_contract_true_class": "an earlier candidate changed them"},
        },
    },
    "ex06_model_hubs": {
        "sequential_loops_and_python_sweep": {  # every answer correct, written differently
            "answers": {
                "hub_classifier": (  # a Sequential model
                    "def hub_classifier(savedmodel_dir, input_shape, num_classes,"
                    " endpoint='serve'):\n"
                    "    return keras.Sequential([\n"
                    "        keras.Input(shape=tuple(input_shape)),\n"
                    "        keras.layers.TFSMLayer(savedmodel_dir, call_endpoint=endpoint,"
                    " trainable=False),\n"
                    "        keras.layers.Dense(num_classes),\n"
                    "    ])\n"),
                "candidates": (  # a loop, then sorted pairs
                    "def candidates(table, modality, task, max_millions, closed_source):\n"
                    "    found = []\n"
                    "    for row in table:\n"
                    "        if (row['modality'], row['task']) != (modality, task):\n"
                    "            continue\n"
                    "        if row['millions'] > max_millions:\n"
                    "            continue\n"
                    "        if closed_source and row['licence'] not in ('MIT', 'Apache-2.0'):\n"
                    "            continue\n"
                    "        found.append((row['millions'], row['name']))\n"
                    "    return [name for _, name in sorted(found)]\n"),
                "duplicates": (
                    # pair_similarities: one embed call, normalised again, a list of floats
                    "def pair_similarities(pairs):\n"
                    "    vectors = course_utils.text.embed([s for pair in pairs for s in pair])\n"
                    "    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)\n"
                    "    return [float(a @ b) for a, b in zip(vectors[0::2], vectors[1::2])]\n"
                    "\n\n"
                    # choose_threshold: pure Python: the similarities themselves, then inf
                    "def choose_threshold(similarities, same):\n"
                    "    best_threshold = float('inf')\n"
                    "    best_correct = sum(not label for label in same)\n"
                    "    for threshold in sorted(set(similarities)):\n"
                    "        correct = sum((value >= threshold) == bool(label)\n"
                    "                      for value, label in zip(similarities, same))\n"
                    "        if correct > best_correct:\n"
                    "            best_threshold, best_correct = threshold, correct\n"
                    "    return best_threshold\n"),
            },
            "failures": {},
        },
        "distance_and_fixed_half": {
            "answers": {
                "duplicates": (
                    # pair_similarities: the Euclidean distance: small = similar
                    "def pair_similarities(pairs):\n"
                    "    a = course_utils.text.embed([p[0] for p in pairs])\n"
                    "    b = course_utils.text.embed([p[1] for p in pairs])\n"
                    "    return np.linalg.norm(a - b, axis=1)\n"
                    "\n\n"
                    # choose_threshold: a fixed 0.5, as if similarities were probabilities
                    "def choose_threshold(similarities, same):\n"
                    "    return 0.5\n"),
            },
            "failures": {"test_pair_similarities": "the Euclidean distances",
                         "test_choose_threshold": "0.5 is not a property"},
        },
        "matrix_and_greater_than": {
            "answers": {
                "duplicates": (
                    # pair_similarities: every first sentence against every second one
                    "def pair_similarities(pairs):\n"
                    "    a = course_utils.text.embed([p[0] for p in pairs])\n"
                    "    b = course_utils.text.embed([p[1] for p in pairs])\n"
                    "    return a @ b.T\n"
                    "\n\n"
                    # choose_threshold: chosen for similarity > threshold, not >=
                    "def choose_threshold(similarities, same):\n"
                    "    similarities, same = np.asarray(similarities), np.asarray(same)\n"
                    "    accuracies = [np.mean((similarities > t) == same) for t in similarities]\n"
                    "    return float(similarities[np.argmax(accuracies)])\n"),
            },
            "failures": {"test_pair_similarities": "the diagonal",
                         "test_choose_threshold": "greater OR EQUAL"},
        },
        "cosine_distance_and_hard_coded": {
            "answers": {
                "duplicates": (
                    # pair_similarities: 1 - cosine: a distance
                    "def pair_similarities(pairs):\n"
                    "    a = course_utils.text.embed([p[0] for p in pairs])\n"
                    "    b = course_utils.text.embed([p[1] for p in pairs])\n"
                    "    return 1 - np.sum(a * b, axis=1)\n"
                    "\n\n"
                    # choose_threshold: read off TUNE_PAIRS once, hard-coded
                    "def choose_threshold(similarities, same):\n"
                    "    return 0.65\n"),
            },
            "failures": {"test_pair_similarities": "1 - cosine",
                         "test_choose_threshold": "a hard-coded value?"},
        },
        "per_pair_and_no_candidate_above": {
            "answers": {
                "duplicates": (
                    # pair_similarities: correct: one embed call per pair, a NumPy array
                    "def pair_similarities(pairs):\n"
                    "    found = []\n"
                    "    for a, b in pairs:\n"
                    "        vector_a, vector_b = course_utils.text.embed([a, b])\n"
                    "        found.append(vector_a @ vector_b)\n"
                    "    return np.array(found)\n"
                    "\n\n"
                    # choose_threshold: only the similarities as candidates: none above all
                    "def choose_threshold(similarities, same):\n"
                    "    similarities, same = np.asarray(similarities), np.asarray(same)\n"
                    "    candidates = np.sort(similarities)\n"
                    "    accuracies = [np.mean((similarities >= t) == same) for t in candidates]\n"
                    "    return float(candidates[np.argmax(accuracies)])\n"),
            },
            "failures": {"test_choose_threshold": "ABOVE every similarity"},
        },
        "fixed_endpoint_and_largest_first": {
            "answers": {
                "hub_classifier": (  # the endpoint hard-coded
                    "def hub_classifier(savedmodel_dir, input_shape, num_classes,"
                    " endpoint='serve'):\n"
                    "    inputs = keras.Input(input_shape)\n"
                    "    layer = keras.layers.TFSMLayer(savedmodel_dir, call_endpoint='serve',"
                    " trainable=False)\n"
                    "    return keras.Model(inputs, keras.layers.Dense(num_classes)"
                    "(layer(inputs)))\n"),
                "candidates": (  # largest first
                    "def candidates(table, modality, task, max_millions, closed_source):\n"
                    "    rows = [r for r in table if r['modality'] == modality and r['task'] == task\n"
                    "            and r['millions'] <= max_millions\n"
                    "            and (not closed_source or r['licence'] in {'MIT', 'Apache-2.0'})]\n"
                    "    return [r['name'] for r in sorted(rows, key=lambda r: -r['millions'])]\n"),
            },
            "failures": {"test_hub_classifier": "call_endpoint=endpoint",
                         "test_candidates": "smallest first"},
        },
        "detection_loops_and_per_anchor": {  # Part D correct, written differently
            "answers": {
                "iou": (  # NumPy, np.clip, the zero union tested first
                    "def iou(box_a, box_b):\n"
                    "    a, b = np.asarray(box_a, dtype=float), np.asarray(box_b, dtype=float)\n"
                    "    low, high = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])\n"
                    "    intersection = np.prod(np.clip(high - low, 0, None))\n"
                    "    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - intersection\n"
                    "    if union <= 0:\n"
                    "        return 0.0\n"
                    "    return float(intersection / union)\n"),
                "nms": (  # pure Python calling iou, a stable sort by descending score
                    "def nms(boxes, scores, iou_threshold):\n"
                    "    order = sorted(range(len(scores)), key=lambda i: -scores[i])\n"
                    "    kept = []\n"
                    "    for i in order:\n"
                    "        if all(iou(boxes[i], boxes[j]) <= iou_threshold for j in kept):\n"
                    "            kept.append(i)\n"
                    "    return kept\n"),
                "decode": (  # one anchor at a time
                    "def decode(anchors, raw, input_size):\n"
                    "    boxes = []\n"
                    "    for (x, y), (dx, dy, w, h) in zip(anchors, np.asarray(raw)[:, :4]):\n"
                    "        cx, cy = x + dx / input_size, y + dy / input_size\n"
                    "        half_w, half_h = w / input_size / 2, h / input_size / 2\n"
                    "        boxes.append([cy - half_h, cx - half_w, cy + half_h, cx + half_w])\n"
                    "    return np.array(boxes, dtype=float).reshape(-1, 4)\n"),
            },
            "failures": {},
        },
        "detection_vectorised": {  # Part D correct, vectorised, nms returns an array
            "answers": {
                "iou": (  # plain floats, 0.0 for a zero-area box
                    "def iou(box_a, box_b):\n"
                    "    ya1, xa1, ya2, xa2 = box_a\n"
                    "    yb1, xb1, yb2, xb2 = box_b\n"
                    "    area_a, area_b = (ya2 - ya1) * (xa2 - xa1), (yb2 - yb1) * (xb2 - xb1)\n"
                    "    if area_a <= 0 or area_b <= 0:\n"
                    "        return 0.0\n"
                    "    h = min(ya2, yb2) - max(ya1, yb1)\n"
                    "    w = min(xa2, xb2) - max(xa1, xb1)\n"
                    "    if h <= 0 or w <= 0:\n"
                    "        return 0.0\n"
                    "    return h * w / (area_a + area_b - h * w)\n"),
                "nms": (  # the classic loop that drops what the best box suppresses
                    "def nms(boxes, scores, iou_threshold):\n"
                    "    boxes = np.asarray(boxes, dtype=float)\n"
                    "    order = np.argsort(-np.asarray(scores), kind='stable')\n"
                    "    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])\n"
                    "    keep = []\n"
                    "    while order.size:\n"
                    "        best, rest = order[0], order[1:]\n"
                    "        keep.append(best)\n"
                    "        top = np.maximum(boxes[best, 0], boxes[rest, 0])\n"
                    "        left = np.maximum(boxes[best, 1], boxes[rest, 1])\n"
                    "        bottom = np.minimum(boxes[best, 2], boxes[rest, 2])\n"
                    "        right = np.minimum(boxes[best, 3], boxes[rest, 3])\n"
                    "        inter = np.maximum(bottom - top, 0) * np.maximum(right - left, 0)\n"
                    "        union = areas[best] + areas[rest] - inter\n"
                    "        safe = np.where(union > 0, union, 1)\n"
                    "        overlap = np.where(union > 0, inter / safe, 0)\n"
                    "        order = rest[overlap <= iou_threshold]\n"
                    "    return np.array(keep, dtype=int)\n"),
                "decode": (  # columns one by one, stacked
                    "def decode(anchors, raw, input_size):\n"
                    "    anchors, raw = np.asarray(anchors, float), np.asarray(raw, float)\n"
                    "    cx = anchors[:, 0] + raw[:, 0] / input_size\n"
                    "    cy = anchors[:, 1] + raw[:, 1] / input_size\n"
                    "    w, h = raw[:, 2] / input_size, raw[:, 3] / input_size\n"
                    "    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], 1)\n"),
            },
            "failures": {},
        },
        "unclipped_all_pairs_offsets_in_pixels": {
            "answers": {
                "iou": (  # the intersection not clipped at 0
                    "def iou(box_a, box_b):\n"
                    "    h = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])\n"
                    "    w = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])\n"
                    "    area_a = (box_a[2] - box_a[0]) * (box_a[3] - box_a[1])\n"
                    "    area_b = (box_b[2] - box_b[0]) * (box_b[3] - box_b[1])\n"
                    "    union = area_a + area_b - h * w\n"
                    "    return h * w / union if union > 0 else 0.0\n"),
                "nms": (  # compared with every higher-scoring box, suppressed or not
                    "def nms(boxes, scores, iou_threshold):\n"
                    "    def overlap(a, b):\n"
                    "        h = max(0, min(a[2], b[2]) - max(a[0], b[0]))\n"
                    "        w = max(0, min(a[3], b[3]) - max(a[1], b[1]))\n"
                    "        union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])\n"
                    "                 - h * w)\n"
                    "        return h * w / union if union > 0 else 0.0\n"
                    "    order = sorted(range(len(scores)), key=lambda i: -scores[i])\n"
                    "    return [i for n, i in enumerate(order)\n"
                    "            if all(overlap(boxes[i], boxes[j]) <= iou_threshold\n"
                    "                   for j in order[:n])]\n"),
                "decode": (  # the offsets added in pixels
                    "def decode(anchors, raw, input_size):\n"
                    "    centres = anchors + raw[:, 0:2]\n"
                    "    sizes = raw[:, 2:4] / input_size\n"
                    "    corners = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1)\n"
                    "    return corners[:, [1, 0, 3, 2]]\n"),
            },
            "failures": {"test_iou": "clip them at 0",
                         "test_nms": "only with the boxes you kept",
                         "test_decode": "divide the offsets by input_size"},
        },
        "union_summed_and_greater_equal": {
            "answers": {
                "iou": (  # the union as the sum of the areas
                    "def iou(box_a, box_b):\n"
                    "    h = max(0, min(box_a[2], box_b[2]) - max(box_a[0], box_b[0]))\n"
                    "    w = max(0, min(box_a[3], box_b[3]) - max(box_a[1], box_b[1]))\n"
                    "    area_a = (box_a[2] - box_a[0]) * (box_a[3] - box_a[1])\n"
                    "    area_b = (box_b[2] - box_b[0]) * (box_b[3] - box_b[1])\n"
                    "    return h * w / (area_a + area_b) if area_a + area_b > 0 else 0.0\n"),
                "nms": (  # suppresses at IoU == threshold too
                    "def nms(boxes, scores, iou_threshold):\n"
                    "    def overlap(a, b):\n"
                    "        h = max(0, min(a[2], b[2]) - max(a[0], b[0]))\n"
                    "        w = max(0, min(a[3], b[3]) - max(a[1], b[1]))\n"
                    "        union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])\n"
                    "                 - h * w)\n"
                    "        return h * w / union if union > 0 else 0.0\n"
                    "    kept = []\n"
                    "    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):\n"
                    "        if all(overlap(boxes[i], boxes[j]) < iou_threshold for j in kept):\n"
                    "            kept.append(i)\n"
                    "    return kept\n"),
            },
            "failures": {"test_iou": "area_a + area_b - intersection",
                         "test_nms": "use >, not >="},
        },
    },
    "ex07_experiment": {
        # trained for real and judged outside the kernel (the judge's own cases, without
        # training: tests/test_judge.py)
        "sequential_normalization_blocks": {  # every step correct, written differently
            "answers": {
                "train_head": (  # a Sequential model, preprocessing as a Normalization layer
                    "keras.utils.set_random_seed(1)\n"
                    "base_model = course_utils.backbones.build(\n"
                    "    'efficientnet_lite0', include_top=False,"
                    " input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))\n"
                    "base_model.trainable = False\n"
                    "model = keras.Sequential([\n"
                    "    keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),\n"
                    "    keras.layers.Normalization(mean=127.0, variance=128.0 ** 2),\n"
                    "    base_model,\n"
                    "    keras.layers.GlobalAveragePooling2D(),\n"
                    "    keras.layers.Dense(len(class_names), activation='softmax'),\n"
                    "])\n"
                    "model.compile(keras.optimizers.Adam(1e-3),"
                    " keras.losses.SparseCategoricalCrossentropy(), metrics=['accuracy'])\n"
                    "model.fit(train_ds, validation_data=val_ds, epochs=3, verbose=0)\n"),
                "fine_tune": (  # the last blocks opened by name, a rate of 1e-4
                    "base_model.trainable = True\n"
                    "for layer in base_model.layers:\n"
                    "    top = layer.name.startswith(('block6', 'block7', 'top'))\n"
                    "    layer.trainable = top and not isinstance("
                    "layer, keras.layers.BatchNormalization)\n"
                    "model.compile(keras.optimizers.Adam(1e-4),"
                    " keras.losses.SparseCategoricalCrossentropy(), metrics=['accuracy'])\n"
                    "stop = keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True)\n"
                    "model.fit(train_ds, validation_data=val_ds, epochs=3, callbacks=[stop],"
                    " verbose=0)\n"
                    "keras.saving.save_model(model, MODEL_FILE)\n"),
            },
            "failures": {},
        },
    },
}

# Checks whose return value is None: a test cell may end with a call to one of them. Any other
# final expression is shown as the cell's result, and nbgrader reads a number there as the
# cell's partial credit.
_NONE_RETURNING = {"print", "_check", "_case", "expect_type", "expect_equal", "expect_allclose",
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
    """Every assignment alone in its folder, each with typical wrong answers listed."""
    assert ASSIGNMENTS == sorted(WRONG)
    assert set(VARIANTS) <= set(ASSIGNMENTS)
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
    assert 2 <= len(answers) <= 6 and len(tests) >= len(answers)
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
            judge = cell.metadata.get("course", {}).get("judge")
            if judge is not None:  # scored outside the kernel; here it shows the same verdict
                from course_utils.grading.judge import JUDGES

                assert judge in JUDGES, gid
                if judge == "experiment":  # the experiment, or its reload check (sent `model`)
                    sends = cell.metadata["course"].get("sends", [])
                    call = "judge_reload(model" if "model" in sends else "judge_experiment("
                    assert call in cell.source, gid
                    continue
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
    from course_utils.grading import preflight

    preflight.warm_caches()  # what `course autograde` does before grading in the sandbox
    return tmp_path_factory.mktemp("grading")


@pytest.fixture(scope="module")
def worker():
    """One long-lived grading worker for the module, as `course autograde` uses (a sandboxed
    kernel started in advance for each submission, none shared)."""
    from course_utils.grading.workers import Worker

    with Worker() as started:
        yield started


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


def _grade(template: Path, assignment: str, student: str, nb, workdir: Path, worker,
           cell_timeout: int | None = None):
    """Grade ``nb`` (with the default limits, or ``cell_timeout``); return the runner's Result
    and {test grade_id: (score, error message)}."""
    from nbgrader.utils import determine_grade

    from course_utils.grading import protocol, runner

    path = workdir / f"{student}-{assignment}.ipynb"
    nbformat.write(nb, path)
    limits = protocol.Limits(cell_timeout=cell_timeout) if cell_timeout else None
    result = runner.grade(template, student, assignment, path, assignment, workdir,
                          limits=limits, worker=worker)
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
def test_round_trip(assignment: str, workdir: Path, worker) -> None:
    """Solution: full marks; untouched: 0; two typical mistakes: partial credit, named pitfalls."""
    from course_utils.grading import release as release_check
    from course_utils.grading import templates

    template = templates.template(ROOT, assignment)  # built once, shared with the variants
    source = template / "solutions" / assignment / f"{assignment}.ipynb"
    release = template / "exercises" / assignment / f"{assignment}.ipynb"
    release_check.check_released(release.parent, source)  # no answers or hidden tests leak
    answer_ids = [_nbgrader(c)["grade_id"] for c in nbformat.read(source, as_version=4).cells
                  if _nbgrader(c).get("solution")]

    solved, cells = _grade(template, assignment, "solution",
                           _submission(release, source, dict.fromkeys(answer_ids)), workdir, worker)
    failed = {gid: message for gid, (score, message) in cells.items() if message}
    assert solved.score == solved.max_score > 0 and not failed, failed

    untouched, cells = _grade(template, assignment, "untouched",
                              nbformat.read(release, as_version=4), workdir, worker)
    assert untouched.score == 0
    # a test fails on the missing answer, or (ex07) on the model file it did not save
    assert all("NotImplementedError" in message or "solar_cells.keras" in message
               for _, message in cells.values()), cells

    wrong = WRONG[assignment]
    answers = {**dict.fromkeys(answer_ids), **wrong["answers"]}
    partial, cells = _grade(template, assignment, "typical_mistakes",
                            _submission(release, source, answers), workdir, worker)
    assert 0 < partial.score < partial.max_score
    failed = {gid: message for gid, (score, message) in cells.items() if score == 0}
    assert set(failed) == set(wrong["failures"]), failed
    for gid, pitfall in wrong["failures"].items():
        assert pitfall in failed[gid], f"{gid}: {failed[gid]!r} does not name {pitfall!r}"


@pytest.mark.parametrize(("assignment", "variant"), [
    (assignment, variant) for assignment in sorted(VARIANTS) for variant in VARIANTS[assignment]])
def test_graded_variant(assignment: str, variant: str, workdir: Path, worker) -> None:
    """A graded submission: the listed tests fail naming the mistake, every other test passes."""
    from course_utils.grading import templates

    template = templates.template(ROOT, assignment)
    source = template / "solutions" / assignment / f"{assignment}.ipynb"
    release = template / "exercises" / assignment / f"{assignment}.ipynb"
    answer_ids = [_nbgrader(c)["grade_id"] for c in nbformat.read(source, as_version=4).cells
                  if _nbgrader(c).get("solution")]
    spec = VARIANTS[assignment][variant]
    assert set(spec["answers"]) <= set(answer_ids), variant
    answers = {**dict.fromkeys(answer_ids), **spec["answers"]}
    # A short student id: the sandbox's kernel sockets live under the grading folder, whose
    # name holds the id, and a socket path may not exceed ~107 bytes.
    student = f"v{list(VARIANTS[assignment]).index(variant)}"
    print(f"{assignment} {student} = {variant}")
    result, cells = _grade(template, assignment, student, _submission(release, source, answers),
                           workdir, worker, spec.get("cell_timeout"))
    failed = {gid: message for gid, (score, message) in cells.items() if score == 0}
    assert set(failed) == set(spec["failures"]), failed
    for gid, pitfall in spec["failures"].items():
        assert pitfall in failed[gid], f"{gid}: {failed[gid]!r} does not name {pitfall!r}"
        assert "Traceback" not in failed[gid], failed[gid]
    if not spec["failures"]:
        assert result.score == result.max_score, cells
