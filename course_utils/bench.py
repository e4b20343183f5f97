"""``make bench``: the course's speed figures, measured on this machine.

* feature-extraction throughput at 224 px (MobileNetV2, EfficientNet-Lite0) in images/s and as a
  share of the machine's FP32 peak;
* training a head on cached features vs through the frozen backbone inside ``fit``;
* each lesson's run time in the offline profile (papermill, one at a time, as a student runs them)
  against the budget: at most 90 s per lesson and 8 minutes for all six;
* grading throughput (``course_utils.grading.bench``) on a course assignment, when asked for.

The peak is computed, not looked up: cores x clock x FP32 FLOPs per cycle per core, where the
FLOPs per cycle assume two fused multiply-add units per core (16 lanes x 2 units x 2 FLOPs with
AVX-512, 8 x 2 x 2 with AVX2, 4 x 2 x 2 otherwise) and the clock is the one ``/proc/cpuinfo``
reports. It is an upper bound no real network reaches; depthwise convolutions in particular are
memory-bound.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["cpu_peak_gflops", "throughput", "cached_vs_fit", "run_lesson", "lesson_times", "run",
           "MACS_PER_IMAGE", "LESSON_GLOB"]

# Multiply-adds per 224x224 image, as published: MobileNetV2 (Sandler et al. 2018, Table 3) and
# EfficientNet-Lite0 (tensorflow/tpu efficientnet/lite README).
MACS_PER_IMAGE = {"mobilenet_v2": 300e6, "efficientnet_lite0": 407e6}
# A typical assignment for the grading benchmark: a Keras model built and checked, no training.
GRADING_ASSIGNMENT = "ex02_backbones"
# The lessons' budget in the offline profile on 2 cores (issue 10): per lesson and for all six.
LESSON_BUDGET_S, LESSONS_BUDGET_S = 90.0, 480.0
LESSON_GLOB = "[0-9][0-9]_*.ipynb"  # lessons are named NN_name.ipynb


def cpu_peak_gflops() -> tuple[float, str]:
    """Return (FP32 peak GFLOP/s, how it was computed) for the CPUs this process may use."""
    cores = len(os.sched_getaffinity(0))
    flags, mhz = set(), 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags and "fma" in flags else 4
    flops_per_cycle = lanes * 2 * 2
    ghz = (mhz or 2000.0) / 1000
    how = f"{cores} cores x {ghz:.2f} GHz x {flops_per_cycle} FP32 FLOP/cycle ({lanes} lanes, 2 FMA units)"
    return cores * ghz * flops_per_cycle, how


def _median_batch_seconds(fn, batch, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(name: str, image_size: int = 224, batch_size: int = 32, warmup: int = 5,
               repeats: int = 10) -> dict:
    """Measure feature-extraction images/s of backbone ``name`` (no top, average pooling).

    Random weights cost exactly the same arithmetic as ImageNet weights, so the keras.applications
    models are built with ``weights=None`` (no download); Lite0 uses its real weights. The model is
    timed as built and with batch normalisation folded into its convolutions
    (:func:`course_utils.inference.fold_batchnorm`), the ``folded_*`` keys.
    """
    import numpy as np
    import tensorflow as tf

    from .models import backbones, inference

    weights = "imagenet" if name == "efficientnet_lite0" else None
    base_model = backbones.build(name, weights=weights, include_top=False, pooling="avg",
                                 input_shape=(image_size, image_size, 3))
    batch = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch_size, image_size,
                                                                  image_size, 3)), tf.float32)
    peak, _ = cpu_peak_gflops()
    result = {"model": name, "image_size": image_size, "batch_size": batch_size}
    for prefix, model in (("", base_model), ("folded_", inference.fold_batchnorm(base_model))):
        forward = tf.function(lambda x, model=model: model(x, training=False), jit_compile=False)
        images_per_second = batch_size / _median_batch_seconds(forward, batch, warmup, repeats)
        gflops = 2 * MACS_PER_IMAGE[name] * (image_size / 224) ** 2 / 1e9 * images_per_second
        result.update({f"{prefix}images_per_second": images_per_second,
                       f"{prefix}gflops": gflops, f"{prefix}share_of_peak": gflops / peak})
    return result


def _epoch_timer():
    """Return a Keras callback that records each epoch's wall time in ``.seconds``."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def cached_vs_fit(num_images: int = 256, image_size: int = 224, epochs: int = 10,
                  num_classes: int = 5) -> dict:
    """Compare head training through the frozen backbone with training on cached features.

    Both heads are trained with one ``fit`` of ``epochs`` epochs; an epoch's time is the median
    of the epochs after the first (the first one traces the graph).
    """
    import keras
    import numpy as np

    from .models import backbones, lite0

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (num_images, image_size, image_size, 3)).astype("float32")
    labels = rng.integers(0, num_classes, num_images)
    base_model = backbones.build("efficientnet_lite0", include_top=False, pooling="avg",
                                 input_shape=(image_size, image_size, 3))
    base_model.trainable = False

    inputs = keras.Input((image_size, image_size, 3))
    x = base_model(lite0.preprocess_input(inputs), training=False)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    full = keras.Model(inputs, outputs)
    full.compile("adam", "sparse_categorical_crossentropy")
    fit_timer = _epoch_timer()
    full.fit(images, labels, batch_size=32, epochs=epochs, verbose=0, callbacks=[fit_timer])

    start = time.perf_counter()
    features = base_model.predict(lite0.preprocess_input(images), batch_size=32, verbose=0)
    extract_seconds = time.perf_counter() - start
    head = keras.Sequential([keras.Input(features.shape[1:]),
                             keras.layers.Dense(num_classes, activation="softmax")])
    head.compile("adam", "sparse_categorical_crossentropy")
    head_timer = _epoch_timer()
    head.fit(features, labels, batch_size=32, epochs=epochs, verbose=0, callbacks=[head_timer])

    fit_epoch = statistics.median(fit_timer.seconds[1:])
    head_epoch = statistics.median(head_timer.seconds[1:])
    return {"images": num_images, "epochs": epochs, "fit_epoch_s": fit_epoch,
            "cached_epoch_s": head_epoch, "speedup_per_epoch": fit_epoch / head_epoch,
            "extract_s": extract_seconds, "fit_total_s": sum(fit_timer.seconds),
            "cached_total_s": extract_seconds + sum(head_timer.seconds)}


def run_lesson(lesson: Path, out: Path, strict: bool = False, cell_timeout: int | None = None,
               timeout: float | None = None, profile: str = "offline",
               parameters: dict | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Execute one lesson with papermill in one profile (default offline) into ``out``.

    The one papermill command line for lessons: :func:`lesson_times`, ``tests/test_lessons.py``
    and the online-route tests (``tests/online_routes.py``) use it. The run is in ``out``'s
    folder; ``offline`` sets ``COURSE_OFFLINE=1``, another profile removes it.

    Args:
        lesson: the notebook.
        out: where the executed copy goes.
        strict: set ``COURSE_STRICT=1`` (a claim outside its band fails the lesson); False
            removes it (a claim outside its band prints a note).
        cell_timeout: seconds one cell may run (None: no limit).
        timeout: seconds the whole run may take (None: no limit).
        profile: the ``PROFILE`` parameter and ``COURSE_PROFILE``.
        parameters: more papermill parameters (``{"EPOCHS": 1}``).
        env: more environment variables for papermill and the kernel.

    Raises:
        subprocess.TimeoutExpired: the run took longer than ``timeout``.
    """
    run_env = dict(os.environ, COURSE_PROFILE=profile, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    for name, value in (("COURSE_OFFLINE", profile == "offline"), ("COURSE_STRICT", strict)):
        if value:
            run_env[name] = "1"
        else:
            run_env.pop(name, None)
    command = [sys.executable, "-m", "papermill", str(lesson), str(out), "-p", "PROFILE", profile,
               "-k", "python3", "--no-progress-bar", "--cwd", str(out.parent)]
    for name, value in (parameters or {}).items():
        command += ["-y", f"{name}: {json.dumps(value)}"]
    if cell_timeout is not None:
        command += ["--execution-timeout", str(cell_timeout)]
    return subprocess.run(command, capture_output=True, text=True, env=run_env, timeout=timeout,
                          check=False)


def lesson_times(folder: Path) -> dict[str, float | None]:
    """Run each lesson of ``folder`` once with :func:`run_lesson`; time it.

    Lessons run one after the other (``make test`` runs them beside other tests, so its times
    are not a student's). Outputs go to a temporary folder.

    Returns:
        ``{notebook name: seconds}``, None for a lesson that failed.
    """
    times: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="course-bench-") as out:
        for lesson in sorted(folder.glob(LESSON_GLOB)):
            start = time.perf_counter()
            done = run_lesson(lesson, Path(out) / lesson.name)
            times[lesson.name] = time.perf_counter() - start if done.returncode == 0 else None
    return times


def _lesson_report(times: dict[str, float | None]) -> list[str]:
    lines = ["", f"Lessons, offline profile, one at a time (budget {LESSON_BUDGET_S:.0f} s each, "
                 f"{LESSONS_BUDGET_S / 60:.0f} min for all)"]
    for name, seconds in times.items():
        shown = ("FAILED (run it with papermill to see why)" if seconds is None else
                 f"{seconds:6.1f} s  " + ("over budget" if seconds > LESSON_BUDGET_S else ""))
        lines.append(f"  {name:<36} {shown}".rstrip())
    total = sum(t for t in times.values() if t is not None)
    met = (None not in times.values() and total <= LESSONS_BUDGET_S
           and all(t <= LESSON_BUDGET_S for t in times.values()))
    lines.append(f"  {'total':<36} {total:6.1f} s  budget {'met' if met else 'missed'}")
    return lines


def run(grading: bool = False, lessons: Path | None = None) -> str:
    """Run the benchmarks and return the report as text.

    Args:
        grading: also measure autograding throughput.
        lessons: a folder of lesson notebooks to time (None: skip the lessons).
    """
    from .runtime.tf import quiet_tensorflow

    quiet_tensorflow()
    peak, how = cpu_peak_gflops()
    lines = [f"FP32 peak: {peak:.0f} GFLOP/s = {how}", "",
             "Feature extraction at 224 px, batch 32 (5 warm-up batches, median of 10)",
             "(folded: batch normalisation folded into the convolutions, "
             "course_utils.inference.fold_batchnorm)",
             f"{'model':<20} {'img/s':>8} {'GFLOP/s':>8} {'% of peak':>10}"
             f" {'folded img/s':>13} {'GFLOP/s':>8} {'% of peak':>10}"]
    for name in ("mobilenet_v2", "efficientnet_lite0"):
        r = throughput(name)
        lines.append(f"{name:<20} {r['images_per_second']:>8.1f} {r['gflops']:>8.1f} "
                     f"{r['share_of_peak']:>10.1%} {r['folded_images_per_second']:>13.1f} "
                     f"{r['folded_gflops']:>8.1f} {r['folded_share_of_peak']:>10.1%}")
    c = cached_vs_fit()
    lines += ["", f"Head training on {c['images']} images at 224 px (EfficientNet-Lite0 frozen)",
              f"  through the backbone in fit: {c['fit_epoch_s']:.2f} s/epoch, "
              f"{c['epochs']} epochs {c['fit_total_s']:.1f} s",
              f"  on cached features:          {c['cached_epoch_s'] * 1000:.1f} ms/epoch, "
              f"{c['epochs']} epochs {c['cached_total_s']:.1f} s including "
              f"{c['extract_s']:.1f} s to extract once",
              f"  speed-up per epoch: {c['speedup_per_epoch']:.0f}x, over {c['epochs']} epochs: "
              f"{c['fit_total_s'] / c['cached_total_s']:.1f}x"]
    if lessons is not None:
        lines += _lesson_report(lesson_times(lessons))
    if grading:
        from .grading import bench as grading_bench

        lines += ["", grading_bench.report(grading_bench.run(assignment=GRADING_ASSIGNMENT))]
    return "\n".join(lines)
