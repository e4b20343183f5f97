"""Tests replayed outside the kernel: the kernel answers questions, the judge runs the tests.

A test cell whose metadata in the instructor's source notebook says ``{"course": {"judge":
"replay"}}`` is scored in three steps, so that nothing the student's kernel does can change
how an answer is checked:

1. **Plan** (once per template, :func:`make_plan`): the source notebook, solutions included,
   runs in a process of the grader's (its test cells that are not replayed are skipped). Every
   call a replayed test makes to a function an answer cell defines is recorded: the function's
   name and its arguments as data (:mod:`.answers`). A function, or an object that is not data
   (a dataset), is recorded by the name of the notebook variable that holds it, a function also
   by its module and name, a ``functools.partial`` of one with its arguments, also inside a
   dict or list (the kernel resolves them; the judge refuses them in its answers); a Keras
   model is saved as a ``.keras`` file, or named as a layer of an earlier model argument
   (``fine_tune(model, base_model, ...)``). With each call go the seed the test set before it
   (``keras.utils.set_random_seed``) and the notebook variables it rebound to data and puts
   back by its end (ex03's relabelled ``y_train``), which the kernel holds during the call.
   The reference
   solution's answers are then replayed (:func:`check_plan`): a test that fails there cannot be
   replayed, and the template is refused. The plan lands in the assignment's files
   (:data:`PLAN`), which the sandbox copies into the kernel's folder.
2. **Probe** (in the student's sandboxed kernel, :func:`answer`): after the notebook has run,
   the grader runs one more cell, which calls the student's functions with the plan's
   arguments and writes what each returned or raised, and how it changed its arguments, as
   data (:data:`ANSWERS`); the kernel's folder keeps it for the judge. Expected values and the
   checks never enter the kernel; it sees only the questions.
3. **Replay** (the judge, :func:`judge_cells`, a process of its own outside the sandbox): the
   source notebook runs again, its answer cells replaced by stand-ins that give back the
   student's recorded answers; each judged test cell passes or fails there, with its own
   message. The judge reads the answers as data only and never runs student code.

Keras models cross as ``.keras`` files (config, weights and compile settings; the trainable
flags and the optimizer's step count beside the file, with the flags ``compile`` saw when they
changed after it): the kernel saves a model an answer returns, and each model argument after
the call (what the student's function did to it), or names it when it sits inside the returned
model or inside another model argument. A model the plan passed whose weights the call left
as they were (it only set flags or compiled it) crosses as those settings alone, which the
judge gives its own copy of the plan's model; and the kernel gives a later call the plan's
model it loaded for an earlier one when flags and compile settings bring it back to the state
the plan asks about. The judge
loads them with ``safe_mode=True`` (:func:`load_model`): Keras builds only its own classes and
refuses a ``Lambda`` layer's code, so the only code a loaded model runs in the judge is Keras's
and the functions the test itself passed (a ``Lambda`` may wrap one of those, found by name). A
model that holds code of the student's (a ``lambda``, a layer or metric class or function of
their own) fails its test with a message saying what to change.

A model argument then takes on what the student's function did to it (``base_model.trainable =
False``, a new compile): the kernel's flags, weights and compile settings are written into the
judge's object, so every reference to it sees them (the judge compiles it again, under the
flags the kernel's ``compile`` saw; its optimizer keeps only the step count); or, when the
argument sits inside the returned model, the test's variables are bound to that layer. The
plan passes each model as a snapshot taken when the test passed it (the kernel's own variable
only when the reference solution leaves it unchanged), so a test that calls a function twice on
one model asks the second question about the model the first call left; the snapshot carries
a digest of its state (:func:`_state`), and the judge loads it only when its own model, which
the kernel's call left unchanged, is not already in that state.

A student can still return any value or model; returning the right ones for the plan's inputs
is solving the exercise. What the kernel reports about a model is the model itself, never a
description of it: a model that behaves right in the judge's checks is a right answer. A call
whose arguments the judge cannot match to the plan (arguments computed from an earlier answer)
fails its test with a message saying so: a test must call students' functions on inputs it
makes itself.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import io
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import answers

__all__ = ["PLAN", "ANSWERS", "JUDGE", "replayed_cells", "make_plan", "check_plan", "answer",
           "sent", "received", "load_model", "judge_cells"]

JUDGE = "replay"
PLAN = "course-probe"  # folder in the assignment's files: PLAN/<notebook stem>/calls.{json,npz}
ANSWERS = "course-answers"  # the kernel writes ANSWERS-<notebook stem>.{json,npz}
SENT = "sent"  # ... and the variables it sends, ANSWERS-<notebook stem>-SENT.{json,npz}
MESSAGE_CHARS = 2000  # of an exception's message, recorded
MODEL_BYTES = 256 * 2**20  # what one saved model the judge loads may unpack to
# the first Keras with the published safe_mode bypasses fixed (Colab's), but for a TFSMLayer that
# loads a SavedModel (CVE-2026-1462, fixed in 3.14.0): load_model refuses that class itself
SAFE_KERAS = (3, 13, 2)
REFUSED = frozenset({"TFSMLayer"})


def _grading(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def replayed_cells(nb) -> list[str]:
    """grade_ids of the notebook ``nb``'s test cells judged by replay."""
    from .judge import judged_cells  # instructor side: the kernel imports this module too

    return [gid for gid, name in judged_cells(nb).items() if name == JUDGE]


def _run(source: str, ns: dict, name: str) -> BaseException | None:
    """Run one cell's code in ``ns`` (IPython syntax allowed); the exception it raised, if any."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        code = compile(TransformerManager().transform_cell(source), f"<{name}>", "exec")
        exec(code, ns)  # noqa: S102 (the instructor's own notebook)
    except Exception as exc:  # noqa: BLE001 (a failed cell is an outcome, as in nbgrader)
        return exc
    return None


class _Notebook:
    """The instructor's notebook run in this process, as the plan and the replay run it.

    Code cells run in order in :attr:`ns`, except the test cells that are not replayed (they
    are scored in the kernel, and may train for minutes). :attr:`current` is the replayed test
    cell running (None outside them: only calls from replayed tests are questions, and
    :attr:`calling` is True while one runs: a call it makes is part of it), and :attr:`settled`
    holds the variables the cells that are not tests set, as they left them: the kernel has
    them whatever the tests did (a model argument is named by one of them).
    """

    def __init__(self, source: Path) -> None:
        import nbformat

        self.source = source
        self.nb = nbformat.read(source, as_version=4)
        self.replayed = set(replayed_cells(self.nb))
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.settled: dict[str, Any] = {}
        self.current: str | None = None
        self.calling = False

    def run(self, on_answer_cell: Callable[[Any], None],
            on_test: Callable[[str, BaseException | None, str], None]) -> None:
        """``on_answer_cell(cell)`` runs the answer cells; ``on_test(grade_id, exception,
        stdout)`` hears each replayed test cell's outcome."""
        for index, cell in enumerate(self.nb.cells):
            meta = _grading(cell)
            if cell.cell_type != "code" or not cell.source.strip() or (
                    meta.get("grade") and meta.get("grade_id") not in self.replayed):
                continue
            before = dict(self.ns)
            if meta.get("solution"):
                on_answer_cell(cell)
            else:
                out = io.StringIO()
                self.current = meta.get("grade_id") if meta.get("grade") else None
                try:
                    with contextlib.redirect_stdout(out):
                        failed = _run(cell.source, self.ns, meta.get("grade_id")
                                      or f"cell {index}")
                finally:
                    self.current = None
                if meta.get("grade"):
                    on_test(meta["grade_id"], failed, out.getvalue())
                    continue
            self.settled.update((name, value) for name, value in self.ns.items()
                                if before.get(name, before) is not value)

    def rebind(self, old: Any, new: Any) -> None:
        """Make the notebook's variables that hold ``old`` hold ``new`` (the kernel's copy of a
        model a student's function was given), the settled ones too."""
        for names in (self.ns, self.settled):
            for key, value in list(names.items()):
                if value is old:
                    names[key] = new

    def rebound(self, arrays: list) -> dict[str, Any]:
        """The settled variables the running test has rebound to data (``y_test =
        relabelled``), encoded into ``arrays``: the kernel holds those the test puts back by its
        end during the next call, as a test run in the kernel would. Rebound to anything else (a
        model, a generator), they stay as the kernel has them."""
        found = {}
        for name, value in self.settled.items():
            now = self.ns.get(name, value)
            if name[:1] != "_" and now is not value and not callable(now):
                encoded = answers.encode(now, arrays)
                if _unreadable(encoded) is None:
                    found[name] = encoded
        return found

    def held(self, value: Any) -> str | None:
        """The name of a settled variable that holds ``value``, if any."""
        return next((k for k, v in self.settled.items() if v is value and k[:1] != "_"), None)

    def encode_call(self, name: str, args: tuple, kwargs: dict) -> tuple[dict, list, list]:
        """A call's arguments as data, its arrays, and its Keras models (in order; each is
        ``{"$model": "keras"}`` in the data: the student's may differ from the plan's)."""
        arrays: list[np.ndarray] = []
        models = []

        def one(value):
            if answers.is_keras_model(value):
                models.append(value)
                return {"$model": "keras"}
            return answers.encode(value, arrays, refer=self.refer)

        data = {"args": [one(v) for v in args], "kwargs": {k: one(v) for k, v in kwargs.items()}}
        return data, arrays, models

    def refer(self, value: Any) -> dict | None:
        """A value that is not data, as the kernel can find it: by the name of the notebook
        variable that holds it (a function, a dataset), or a function by its module and name."""
        held = self.held(value)
        if held:
            return {"$global": held}
        if inspect.isroutine(value) and _imported(value) is value:
            return {"$import": f"{value.__module__}:{value.__qualname__}"}
        return None


def _imported(function: Any) -> Any:
    """What importing ``function`` by its module and qualified name gives (None: nothing)."""
    import importlib

    try:
        found: Any = importlib.import_module(function.__module__)
        for part in function.__qualname__.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, TypeError):
        return None
    return found


def _unreadable(data: Any) -> str | None:
    """The first ``$unreadable`` kind inside encoded ``data``, if any."""
    if isinstance(data, dict):
        if "$unreadable" in data:
            return str(data["$unreadable"])
        data = list(data.values())
    if isinstance(data, list):
        return next((kind for kind in map(_unreadable, data) if kind), None)
    return None


def make_plan(source: Path, folder: Path) -> dict[str, Callable]:
    """Run ``source`` with its solutions; record its replayed tests' calls in ``folder``.

    Returns the notebook's variables as it left them, the solution's own functions included
    (for :func:`check_plan`).

    Raises:
        RuntimeError: the notebook cannot be replayed: a replayed test fails with the reference
            solution, an answer cell defines something other than functions, or a test passes
            an argument that cannot cross to the kernel as data.
    """
    folder.mkdir(parents=True, exist_ok=True)
    run = _Notebook(source)
    records, calls, failures, functions = [], [], [], {}
    pending: list[tuple] = []  # the running test's calls, with the variables it rebound

    def record(name: str, function: Callable) -> Callable:
        def recorded(*args, **kwargs):
            if run.current is None or run.calling:
                return function(*args, **kwargs)
            data, arrays, models = run.encode_call(name, args, kwargs)
            kind = _unreadable(data)
            if kind:
                raise RuntimeError(f"{source.name}: {run.current} passes a {kind} to {name}: "
                                   "a replayed test passes values, arrays and Keras models only")
            # each model as the test passes it: a snapshot, or the notebook's variable when the
            # reference leaves it as it was (the kernel has it, and saves it only if changed)
            files, states = {}, [_state(model) for model in models]
            for i, model in enumerate(models):
                inside = _inside(model, models[:i])
                if inside:
                    files[str(i)] = inside
                    continue
                files[str(i)] = _save_model(model, folder / f"model-{len(calls)}-{i}.keras")
                if "$unsaved" in files[str(i)]:
                    raise RuntimeError(f"{source.name}: {run.current} passes {name} a model that "
                                       f"cannot be saved ({files[str(i)]['$unsaved']})")
                files[str(i)]["state"] = states[i]  # the judge's own model may already be so
            calls.append({"name": name, "test": run.current,
                          "digest": answers.digest(data, arrays), "files": files})
            spare: list[np.ndarray] = []
            pending.append((data, arrays, run.rebound(spare), spare))
            if seeds:  # the seed the test set for this call (keras.utils.set_random_seed)
                data["seed"] = seeds.pop()
            seeds.clear()
            records.append((data, arrays))
            run.calling = True
            try:
                result = function(*args, **kwargs)
            finally:
                run.calling = False
            for i, model in enumerate(models):
                if "$keras" in files[str(i)] and run.held(model) and _state(model) == states[i]:
                    (folder / files[str(i)]["$keras"]).unlink()
                    files[str(i)] = {"$global": run.held(model)}
            return result
        return recorded

    seeds: list[int] = []  # set by the running test since its last call
    watched: list[Callable] = []  # keras.utils.set_random_seed itself, once it is watched

    def watch_seeds():
        keras = sys.modules.get("keras")  # the notebook imported it (answers come after set-up)
        if keras is None or watched:
            return
        watched.append(keras.utils.set_random_seed)

        def set_random_seed(seed):
            if run.current is not None and not run.calling:
                seeds.append(int(seed))
            return watched[0](seed)

        keras.utils.set_random_seed = set_random_seed

    def on_answer_cell(cell):
        watch_seeds()
        grade_id = _grading(cell).get("grade_id", "answer")
        before = dict(run.ns)
        failed = _run(cell.source, run.ns, grade_id)
        if failed is not None:
            raise RuntimeError(f"{source.name}: the solution cell {grade_id} fails: {failed!r}")
        changed = [name for name, value in run.ns.items() if before.get(name) is not value]
        if any(not inspect.isfunction(run.ns[name]) for name in changed):
            raise RuntimeError(f"{source.name}: the solution cell {grade_id} defines "
                               f"{', '.join(changed)}: a replayed test needs answer cells that "
                               "define functions only")
        for name in changed:
            functions[name] = run.ns[name]
            run.ns[name] = record(name, run.ns[name])

    def on_test(grade_id, failed, _):
        # a variable crosses with a call only if the test puts it back by its end (a relabelling
        # tried in a try/finally): one it merely reuses the name of may hold an expected value
        for data, arrays, rebound, spare in pending:
            data["globals"] = {name: answers.encode(answers.decode(value, spare), arrays)
                               for name, value in rebound.items()
                               if run.ns.get(name) is run.settled.get(name)}
        pending.clear()
        if isinstance(failed, RuntimeError) and str(failed).startswith(source.name):
            raise failed
        if failed is not None:
            failures.append(f"{grade_id}: {type(failed).__name__}: {failed}")

    try:
        run.run(on_answer_cell, on_test)
    finally:
        if watched:
            sys.modules["keras"].utils.set_random_seed = watched[0]
    if failures:
        raise RuntimeError(f"{source.name}: the reference solution fails {failures[0]}")
    answers.save(folder / "calls", records)
    (folder / "plan.json").write_text(json.dumps({"calls": calls}))
    return {**run.ns, **functions}


def check_plan(source: Path, folder: Path, ns: dict[str, Any]) -> None:
    """Replay ``source``'s tests on the answers that the reference solution's namespace ``ns``
    (from :func:`make_plan`) gives to ``folder``'s plan.

    Raises:
        RuntimeError: a replayed test fails: it cannot be replayed (its arguments depend on an
            answer, or it needs state a test that is not replayed makes).
    """
    import tempfile

    with tempfile.TemporaryDirectory() as kept:
        answer(folder, Path(kept) / f"{ANSWERS}-{source.stem}", ns)
        verdicts = judge_cells(source, Path(kept), replayed_cells(_Notebook(source).nb))
    failed = {gid: v["error"] for gid, v in verdicts.items() if not v["passed"]}
    if failed:
        gid, (name, message) = next(iter(failed.items()))
        raise RuntimeError(f"{source.name}: {gid} fails when replayed on the reference "
                           f"solution's answers ({name}: {message}): a replayed test must call "
                           "answer functions on inputs it makes itself")


def _reference(data: dict, ns: dict) -> Any:
    """A model or function argument: the notebook's variable ``data["$global"]``, or the function
    ``data["$import"]`` (``module:qualified.name``)."""
    if "$import" in data:
        import importlib

        module, _, qualname = data["$import"].partition(":")
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
        return found
    if data["$global"] not in ns:
        raise NameError(f"name {data['$global']!r} is not defined")
    return ns[data["$global"]]


def _snapshot(plan: Path, saved: dict, loaded: list | None = None, busy: list = ()) -> Any:
    """A model the plan saved (the instructor's: loaded as it is, its trainable flags set).

    ``loaded`` (the kernel's) holds the snapshots loaded for earlier calls: one that is not
    ``busy`` (this call's) and takes ``saved``'s exact state (:func:`_state`) from its flags and
    compile settings alone is given again instead of loading the file (ex04 asks about one
    backbone under four sets of flags: loading Lite0 takes about 0.85 s), as a test run in the
    kernel would pass its one model again; a new one is added to it.
    """
    import keras

    for model in loaded or ():
        if all(model is not other for other in busy) \
                and len(_all(model)) == len(saved.get("trainable") or ()):
            try:
                _restore(model, saved)
            except Exception:  # noqa: BLE001 (whatever an earlier call did to it: load anew)
                continue
            if _state(model) == saved.get("state"):
                return model
    model = keras.models.load_model(plan / saved["$keras"])
    _restore(model, saved)
    if loaded is not None:
        loaded.append(model)
    return model


def _flags(model: Any) -> list[bool]:
    """The trainable flags of ``model`` and of every layer in it, in :func:`_all`'s order."""
    return [layer.trainable for layer in _all(model)]


def _set_flags(model: Any, flags: Any) -> None:
    """Set trainable flags as :func:`_flags` lists them, when they fit ``model``."""
    layers = _all(model)
    if isinstance(flags, list) and len(flags) == len(layers):
        for layer, flag in zip(layers, flags, strict=True):
            layer.trainable = bool(flag)  # a model first, then its layers: theirs win


class _Overtime(BaseException):
    """A call of the student's function ran past its limit (:func:`_limited`)."""


@contextlib.contextmanager
def _limited(seconds: float | None):
    """Raise :class:`_Overtime` in the block after ``seconds`` (None: no limit), by SIGALRM:
    the kernel runs its cells in its main thread, where a signal handler runs."""
    if not seconds:
        yield
        return

    def overtime(signum, frame):
        raise _Overtime

    earlier = signal.signal(signal.SIGALRM, overtime)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, earlier)


def answer(plan: str | Path, into: str | Path, ns: dict | None = None,
           sends: list[str] = (), seconds: float | None = None) -> int:
    """Kernel side: call the notebook's functions with ``plan``'s arguments; write ``into``.

    ``ns`` is the notebook's namespace (IPython's when None). The notebook variables ``sends``
    are sent too (:func:`_send`). Answers nothing when ``plan`` holds no plan. Each call may
    run ``seconds`` (the grader's cell limit; None: no limit): a call that runs longer is
    interrupted and answered as a ``TimeoutError``, so it fails its own tests and no others.
    Returns the number of calls answered.
    """
    plan, into = Path(plan), Path(into)
    if not sends and not (plan / "plan.json").is_file():
        return 0
    if ns is None:
        ns = get_ipython().user_ns  # type: ignore[name-defined]  # noqa: F821 (IPython's)
    if sends:
        _send(sends, ns, into)
    if not (plan / "plan.json").is_file():
        return 0
    calls = json.loads((plan / "plan.json").read_text())["calls"]
    results = []
    loaded: list = []  # the plan's models loaded so far (see _snapshot)
    for call, (data, arrays) in zip(calls, answers.load(plan / "calls"), strict=True):
        out: list[np.ndarray] = []
        record: dict[str, Any] = {"mutated": {}, "models": {}}
        try:
            positions = [*((str(i), v) for i, v in enumerate(data["args"])),
                         *((f"k:{k}", v) for k, v in data["kwargs"].items())]
            items = {}  # position -> (argument, whether it is a model argument)
            given: list = []  # the model arguments, in order
            from_plan = {}  # position -> (weights, compiled) of a model loaded from the plan
            for key, value in positions:
                if isinstance(value, dict) and "$model" in value:
                    saved = call["files"][str(len(given))]
                    given.append(_snapshot(plan, saved, loaded, given) if "$keras" in saved
                                 else _layer(given, saved) if "$inside" in saved
                                 else _reference(saved, ns))
                    items[key] = (given[-1], True)
                    if "$keras" in saved:
                        from_plan[key] = (_weights(given[-1]), given[-1].compiled)
                else:  # data, or a function or object the kernel has (a reference)
                    items[key] = (answers.decode(value, arrays, lambda ref: _reference(ref, ns)),
                                  False)
            function = ns.get(call["name"])
            if function is None:
                raise NameError(f"name {call['name']!r} is not defined")
            before = {key: _content(value) for key, (value, ref) in items.items() if not ref}
            states = {key: _state(value) for key, (value, ref) in items.items()
                      if ref and _is_model(value)}
            args = [items[str(i)][0] for i in range(len(data["args"]))]
            kwargs = {k: items[f"k:{k}"][0] for k in data["kwargs"]}
            rebound = {k: answers.decode(v, arrays) for k, v in data.get("globals", {}).items()}
            kept = {k: ns[k] for k in rebound if k in ns}
            if "seed" in data:
                import keras

                keras.utils.set_random_seed(int(data["seed"]))
            ns.update(rebound)
            try:
                with _limited(seconds):
                    result = function(*args, **kwargs)
            except _Overtime:
                raise TimeoutError(f"{call['name']} ran longer than {seconds:g} s on the "
                                   "grader's inputs and was interrupted") from None
            finally:
                for key in rebound:
                    ns.pop(key, None)
                ns.update(kept)
            label = f"{into.name}-{len(results)}"
            record["result"] = _written(result, into.parent / f"{label}-result.keras", out)
            for key, digest in before.items():
                if _content(items[key][0]) != digest:
                    record["mutated"][key] = answers.encode(items[key][0], out)
            for key, state in states.items():
                value = items[key][0]
                earlier = given[:next(i for i, model in enumerate(given) if model is value)]
                if any(layer is value for layer in _layers(result)):
                    record["models"][key] = {"$nested": value.name}
                elif inside := _inside(value, earlier):
                    record["models"][key] = inside
                elif _state(value) != state:
                    record["models"][key] = _settings(value, from_plan.get(key), out) \
                        or _save_model(value, into.parent / f"{label}-{key.replace(':', '-')}.keras",
                                       out)
        except BaseException as exc:  # noqa: BLE001 (whatever the student's code raised)
            if isinstance(exc, KeyboardInterrupt):
                raise
            record = {"raised": [type(exc).__name__, str(exc)[:MESSAGE_CHARS]]}
        results.append((record, out))
    answers.save(into, results)
    return len(results)


def _send(names: list[str], ns: dict, into: Path) -> None:
    """Kernel side: the notebook variables ``names`` as they are after the last cell, as data
    (a Keras model saved as a file, as an answer's is), for a judge that reads them with
    :func:`sent` (ex07's reload test compares the notebook's ``model`` with the file the
    student saved)."""
    out: list[np.ndarray] = []
    found = {name: _written(ns.get(name), into.parent / f"{into.name}-{SENT}-{name}.keras", out)
             for name in names}
    answers.save(into.parent / f"{into.name}-{SENT}", [(found, out)])


def sent(kept: Path, stem: str) -> tuple[dict, list[np.ndarray]]:
    """Judge side: what the kernel sent for the notebook ``stem`` (:func:`_send`): ``{name:
    data}`` (a model as :func:`load_model` reads it) and the arrays to decode the data with.

    Raises:
        OSError: nothing was sent (the notebook did not run to its end).
        ValueError: the files are not what :func:`_send` writes.
    """
    records = answers.load(kept / f"{ANSWERS}-{stem}-{SENT}")
    if len(records) != 1 or not isinstance(records[0][0], dict):
        raise ValueError("not the variables the grader asked for")
    return records[0]


def _inside(model: Any, earlier: list) -> dict | None:
    """``{"$inside": [i, name]}`` when ``model`` is a layer of ``earlier[i]`` (ex04's
    ``fine_tune(model, base_model, ...)``): it travels with that model, not on its own."""
    return next(({"$inside": [i, model.name]} for i, outer in enumerate(earlier)
                 if any(layer is model for layer in _layers(outer))), None)


def _layer(given: list, saved: dict) -> Any:
    """The layer ``saved`` (an :func:`_inside` description) names in one of ``given``.

    Raises:
        RuntimeError: there is no such layer.
    """
    index, name = (list(saved["$inside"]) + [None, None])[:2]
    outer = given[index] if isinstance(index, int) and 0 <= index < len(given) else None
    return _named(outer, name, "the model it was given with it")


def _named(model: Any, name: Any, what: str) -> Any:
    """The layer called ``name`` at any depth in ``model`` (``what``, for the message).

    Raises:
        RuntimeError: there is no such layer.
    """
    found = next((layer for layer in _layers(model) if layer.name == name), None)
    if found is None:
        raise RuntimeError(f"the grader cannot find the layer {name!r} in {what}")
    return found


def _is_model(value: Any) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(value, keras.Model)


def _all(model: Any) -> list:
    """``model`` and every layer in it, at any depth, parents before their layers."""
    return [model, *_layers(model)]


def _layers(model: Any):
    """The layers of ``model`` and of the models nested in it, at any depth (none for a value
    that is not a model)."""
    for layer in getattr(model, "layers", []) if _is_model(model) else []:
        yield layer
        yield from _layers(layer)


def _weights(model: Any) -> str:
    """``model``'s weights (shapes and values), digested."""
    import hashlib

    hasher = hashlib.sha256()
    for weight in model.weights:
        hasher.update(repr(tuple(weight.shape)).encode())
        hasher.update(np.asarray(weight).tobytes())
    return hasher.hexdigest()


def _state(model: Any) -> str:
    """What a function can change in a model it is given, digested: its layers' trainable
    flags, its weights and its compile settings (configuration, the flags its compile saw, the
    optimizer's step count). Equal in two processes for equal models: the judge compares a
    model with the plan's snapshot of it."""
    import hashlib

    try:
        config = model.get_compile_config() if getattr(model, "compiled", False) else None
        optimizer = config.get("optimizer") if isinstance(config, dict) else None
        if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
            # Keras numbers an optimizer's default name per process ("sgd_3"): not a setting
            optimizer["config"].pop("name", None)
        compiled = json.dumps(config, sort_keys=True, default=repr)
    except Exception:  # noqa: BLE001 (settings Keras cannot describe: a new compile differs)
        compiled = f"unreadable {id(getattr(model, 'optimizer', None))}"
    return hashlib.sha256(repr((_flags(model), _compiled_flags(model), compiled, _steps(model),
                                _weights(model))).encode()).hexdigest()


def _write_into(target: Any, copy: Any) -> bool:
    """Give ``target`` the trainable flags, weights and compile settings of ``copy`` (the
    kernel's version of it), in place, so every reference to it sees them; False (nothing
    changed) when the two do not have the same layers and weights' shapes."""
    mine, theirs = _all(target), _all(copy)
    if [type(layer).__name__ for layer in mine] != [type(layer).__name__ for layer in theirs] \
            or [w.shape for w in target.weights] != [w.shape for w in copy.weights]:
        return False
    target.set_weights(copy.get_weights())
    if copy.compiled:
        _compile(target, copy.get_compile_config(), _compiled_flags(copy), _flags(copy),
                 _steps(copy))
    else:
        _set_flags(target, _flags(copy))
    return True


def _compiled_flags(model: Any) -> list[bool] | None:
    """The trainable flags ``model``'s last compile saw, in :func:`_all`'s order; None when it
    is not compiled or this Keras records no flags (then its first ``fit`` reads them)."""
    from ..runtime import keras_internals

    if not getattr(model, "compiled", False):
        return None
    try:
        seen = keras_internals.compiled_trainable_flags(model)
    except keras_internals.UnsupportedKerasError:
        return None
    return None if seen is None else [seen.get(layer, layer.trainable) for layer in _all(model)]


def _steps(model: Any) -> int:
    """How many steps ``model``'s optimizer has taken (0: none, or no optimizer)."""
    optimizer = getattr(model, "optimizer", None)
    return int(optimizer.iterations) if optimizer is not None else 0


def _compile(model: Any, config: Any, seen: list[bool] | None, flags: list[bool] | None,
             steps: Any = 0) -> None:
    """Compile ``model`` with ``config`` as the kernel did: under the trainable flags its
    compile saw (``seen``; None: ``flags``), then give it ``flags``, so a model whose
    flags changed after compiling is judged as one (the judge's optimizer updates what the
    kernel's would). The new optimizer has taken ``steps`` steps; its other state is new."""
    _set_flags(model, flags if seen is None else seen)
    model.compile_from_config(config)
    _set_flags(model, flags)
    if type(steps) is int and steps > 0:
        model.optimizer.iterations.assign(steps)


def _save_model(model: Any, path: Path, arrays: list | None = None) -> dict:
    """Save ``model`` for the judge (the plan's snapshots too); where it is, or why it cannot be
    saved. With ``arrays`` (the kernel's answers), its last fit's history goes along."""
    try:
        model.save(path)
    except Exception as exc:  # noqa: BLE001 (whatever stops the student's model saving)
        path.unlink(missing_ok=True)
        return {"$unsaved": f"{type(exc).__name__}: {str(exc)[:MESSAGE_CHARS]}"}
    return {"$keras": path.name, **_beside(model, arrays)}


def _beside(model: Any, arrays: list | None) -> dict:
    """What a saved file leaves out of ``model``: the trainable flags (an InputLayer's are not
    saved), those the last compile saw when they differ, the optimizer's step count and, with
    ``arrays``, the ``History`` of its last fit (``model.history``), as :mod:`.answers` encodes
    a callback."""
    saved = {"trainable": _flags(model), "steps": _steps(model)}
    seen = _compiled_flags(model)
    if seen is not None and seen != saved["trainable"]:
        saved["compiled"] = seen
    history = getattr(model, "history", None)
    if arrays is not None and history is not None:
        saved["history"] = answers.encode(history, arrays)
    return saved


def _settings(model: Any, before: tuple[str, bool] | None, arrays: list) -> dict | None:
    """Kernel side: a model the plan passed whose weights the call left as they were (``before``:
    their digest and whether it was compiled), described without its file: its compile
    configuration (``$settings``, None when it is not compiled) and :func:`_beside`. The judge
    gives them to its own copy of the plan's model (ex04's ``unfreeze_top`` only sets flags: a
    saved Lite0 costs the kernel 0.35 s and the judge 1 s). None when the weights changed, the
    model lost its compilation, or its settings are not plain JSON: then the file goes."""
    if before is None or _weights(model) != before[0] or before[1] and not model.compiled:
        return None
    try:
        config = json.loads(json.dumps(model.get_compile_config())) if model.compiled else None
    except Exception:  # noqa: BLE001 (settings that are not JSON: the judge gets the file)
        return None
    return {"$settings": config, **_beside(model, arrays)}


def _written(value: Any, path: Path, arrays: list) -> Any:
    """Kernel side: ``value`` encoded as data into ``arrays``, or, a Keras model, saved at
    ``path`` (:func:`_save_model`); :func:`received` reads either back."""
    return _save_model(value, path, arrays) if _is_model(value) else answers.encode(value, arrays)


def received(kept: Path, data: Any, arrays: list, what: str, functions: tuple = ()) -> Any:
    """Judge side: a value the kernel wrote (encoded ``data`` with its ``arrays``), or the model
    it saved in its place (:func:`load_model`, with ``what`` and ``functions``), as
    :func:`_written` wrote them."""
    if isinstance(data, dict) and {"$keras", "$unsaved"} & data.keys():
        return load_model(kept, data, what, functions, arrays)
    return answers.decode(data, arrays)


def load_model(kept: Path, saved: Any, what: str, functions: tuple = (), arrays: list = ()) -> Any:
    """Judge side: the model the kernel saved (``saved`` as :func:`_save_model` describes it) in
    the folder ``kept``, loaded with ``safe_mode=True`` so that none of its code runs.

    ``functions`` are the functions the test gave the student's function (the judge's own
    objects): a ``Lambda`` layer may wrap one of them, found by its name. ``arrays`` are the
    answer's arrays (its history's).

    Raises:
        RuntimeError: no such model, or Keras refuses it; the message says what to change.
    """
    import zipfile

    import keras

    if isinstance(saved, dict) and "$unsaved" in saved:
        raise RuntimeError(f"{what} cannot be saved as a .keras file ({saved['$unsaved']}), and "
                           "the grader reads models only from that file: build it from Keras "
                           "layers, with the functional API or keras.Sequential")
    file = saved.get("$keras") if isinstance(saved, dict) else None
    path = kept / str(file)
    if not isinstance(file, str) or Path(file).name != file or not path.is_file():
        raise RuntimeError(f"the grader got no saved copy of {what}")
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
            classes = answers.config_classes(json.loads(archive.read("config.json"))) \
                if size <= MODEL_BYTES else []
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        size = None
    if size is None or size > MODEL_BYTES:
        raise RuntimeError(f"the grader cannot load {what}: " + (
            "its file is not a Keras archive" if size is None
            else f"it is larger than {MODEL_BYTES >> 20} MiB"))
    _refuse(classes, what)
    try:
        model = keras.saving.load_model(path, safe_mode=True, custom_objects={
            function.__name__: function for function in functions})
    except Exception as exc:  # noqa: BLE001 (Keras refuses it, for whatever reason)
        said = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RuntimeError(
            f"the grader cannot load {what} with Keras's safe_mode ({said}): models are graded "
            "without running code of yours, so build them from Keras's own layers, losses and "
            "metrics only (no Lambda layer, no layer class of your own and no loss or metric "
            "function of your own: keras.layers.Rescaling instead of a Lambda that scales, "
            "keras.metrics.BinaryAccuracy instead of a function that counts hits, for "
            "instance)") from None
    _restore(model, saved, arrays)
    return model


def _refuse(classes: list[tuple[str, str]], what: str) -> None:
    """Raise RuntimeError when ``classes`` (from a config) name one of :data:`REFUSED`."""
    refused = sorted({name for _, name in classes} & REFUSED)
    if refused:
        raise RuntimeError(f"the grader does not load {what}: it holds a {refused[0]}, which "
                           "loads files of its own; build it from Keras layers")


def _restore(model: Any, saved: dict, arrays: list = ()) -> None:
    """Give a loaded model what :func:`_beside` sent with it: the trainable flags and, when it
    is compiled, a compile under the flags the kernel's compile saw (Keras compiled it under
    the file's; the optimizer keeps only its step count), with the configuration from
    ``$settings`` when the file stayed behind (:func:`_settings`); and a Keras ``History`` of
    its last fit (built again by :func:`.answers.decode`; anything else is left out)."""
    config = saved["$settings"] if "$settings" in saved \
        else model.get_compile_config() if model.compiled else None
    if config is not None:
        _compile(model, config, saved.get("compiled"), saved.get("trainable"), saved.get("steps"))
    else:
        _set_flags(model, saved.get("trainable"))
    if "history" in saved:
        import keras

        try:
            history = answers.decode(saved["history"], arrays)
        except (ValueError, TypeError, KeyError, IndexError):  # not a History Keras builds
            history = None
        if type(history) is keras.callbacks.History and isinstance(history.history, dict):
            model.history = history


def _content(value: Any) -> str:
    arrays: list[np.ndarray] = []
    return answers.digest(answers.encode(value, arrays), arrays)


def _exception(name: str, message: str) -> Exception:
    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, Exception):
        try:
            return found(message)
        except Exception:  # noqa: BLE001 (an exception class that takes other arguments)
            pass
    return type(name, (Exception,), {})(message)


def _write_back(target: Any, value: Any) -> None:
    """Change ``target`` in place to ``value`` (what the student's function did to it): an
    array's values, a list's, dict's or set's items."""
    if isinstance(target, np.ndarray) and isinstance(value, np.ndarray) \
            and target.shape == value.shape:
        np.copyto(target, value, casting="unsafe")
    elif isinstance(target, list) and isinstance(value, list):
        target[:] = value
    elif isinstance(target, (dict, set)) and isinstance(value, type(target)):
        target.clear()
        target.update(value)


def judge_cells(source: Path, kept: Path, cells: list[str]) -> dict[str, dict]:
    """Judge side: replay ``source``'s tests on the kernel's answers in ``kept``.

    Returns ``{grade_id: {"passed": bool, "lines": [...], "error": [name, message] | None}}``
    for the grade_ids in ``cells``.
    """
    plan = source.parent / PLAN / source.stem
    calls = json.loads((plan / "plan.json").read_text())["calls"]
    if any(kept.glob(f"{ANSWERS}-{source.stem}-*.keras")):
        import keras

        if tuple(int(part) for part in keras.version().split(".")[:3]) < SAFE_KERAS:
            raise RuntimeError(f"judging students' models needs Keras "
                               f"{'.'.join(map(str, SAFE_KERAS))} or later (older releases have "
                               f"published ways to run code from a .keras file); this is "
                               f"{keras.version()}: pip install -U keras, then grade again")
    try:
        given = answers.load(kept / f"{ANSWERS}-{source.stem}")
        if len(given) != len(calls):
            raise ValueError(f"{len(given)} answers for {len(calls)} questions")
        problem = None
    except (OSError, ValueError, RecursionError) as exc:
        given, problem = [], ("the grader got no answers from your notebook (did it run to its "
                              f"end?): {exc}")
    run = _Notebook(source)
    used: set[int] = set()
    verdicts: dict[str, dict] = {}

    def stand_in(name: str) -> Callable:
        def replayed(*args, **kwargs):
            data, arrays, _ = run.encode_call(name, args, kwargs)
            digest = answers.digest(data, arrays)
            for index, call in enumerate(calls):
                if index not in used and call["name"] == name and call["digest"] == digest:
                    break
            else:
                raise RuntimeError(f"the grader cannot replay this call of {name}: its "
                                   "arguments are not the ones your notebook was asked about")
            used.add(index)
            if problem:
                raise RuntimeError(problem)
            record, out = given[index]
            if "raised" in record:
                raise _exception(*record["raised"])
            for key, value in record.get("mutated", {}).items():
                _write_back(_argument(key, args, kwargs), answers.decode(value, out))
            passed = tuple(v for v in (*args, *kwargs.values()) if inspect.isroutine(v))
            result = received(kept, record["result"], out, f"the model {name} returned", passed)
            keys = [*(str(i) for i, v in enumerate(args) if answers.is_keras_model(v)),
                    *(f"k:{k}" for k, v in kwargs.items() if answers.is_keras_model(v))]
            copies: list = []  # each model argument as the kernel's call left it, in order
            for i, key in enumerate(keys):
                target, saved = _argument(key, args, kwargs), record["models"].get(key)
                planned = call["files"][str(i)]
                saved = planned if saved is None else saved  # None: as the plan passed it
                saved = saved if isinstance(saved, dict) else {}
                if "$global" in saved:  # the notebook's variable, the same in the kernel
                    copies.append(target)
                    continue
                if "$nested" in saved:
                    copy = _named(result, saved["$nested"], f"the model {name} returned")
                    copies.append(copy)
                    run.rebind(target, copy)
                    continue
                if saved is planned and "state" in saved and saved["state"] == _state(target):
                    copies.append(target)  # the kernel's, unchanged, is the judge's as it is
                    continue
                what = f"the model passed to {name}, as {name} left it"
                copy = _settled(plan, planned, saved, target, what, out) \
                    if "$settings" in saved \
                    else _layer(copies, saved) if "$inside" in saved \
                    else _snapshot(plan, saved) if saved is planned \
                    else load_model(kept, saved, what, passed, out)
                copies.append(copy)
                if copy is not target and not _write_into(target, copy):
                    run.rebind(target, copy)
            return result
        replayed.__name__ = name
        return replayed

    asked = {call["name"] for call in calls}

    def on_answer_cell(cell):
        for name in _defined_names(cell.source) & asked:
            run.ns[name] = stand_in(name)

    def on_test(grade_id, failed, printed):
        if grade_id in cells:
            verdicts[grade_id] = {
                "passed": failed is None, "lines": printed.splitlines(),
                "error": None if failed is None else [type(failed).__name__, str(failed)]}

    run.run(on_answer_cell, on_test)
    return verdicts


def _settled(plan: Path, planned: dict, saved: dict, target: Any, what: str,
             arrays: list) -> Any:
    """Judge side: the plan's model ``planned`` (``target``, when it is in that state; else the
    plan's file) given the flags and compile settings the kernel's call left (``saved``, from
    :func:`_settings`: the call did not change its weights)."""
    if "$keras" not in planned or not isinstance(saved["$settings"], (dict, type(None))):
        raise RuntimeError(f"the grader got no saved copy of {what}")
    _refuse(answers.config_classes(saved["$settings"]), what)
    copy = target if planned.get("state") == _state(target) else _snapshot(plan, planned)
    try:
        _restore(copy, saved, arrays)
    except Exception as exc:  # noqa: BLE001 (settings Keras refuses: the kernel's to explain)
        said = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RuntimeError(f"the grader cannot compile {what} as your notebook did ({said})") \
            from None
    return copy


def _argument(key: str, args: tuple, kwargs: dict) -> Any:
    """The argument at position ``key`` of a recorded call ("0", "1", ... or "k:name")."""
    return kwargs.get(key[2:]) if key.startswith("k:") else args[int(key)]


def _defined_names(code: str) -> set[str]:
    """Names of the functions a cell's code defines at its top level."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(code))
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def _main(argv: list[str]) -> int:
    """``python -m course_utils.grading.replay plan SOURCE``: write SOURCE's plan."""
    command, source = argv
    if command != "plan":
        raise SystemExit(f"unknown command {command!r}")
    path = Path(source)
    folder = path.parent / PLAN / path.stem
    try:
        check_plan(path, folder, make_plan(path, folder))
    except RuntimeError as exc:  # the notebook cannot be replayed: the instructor's to fix
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps({"plan": str(folder)}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
