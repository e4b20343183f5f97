"""Kernel side of the test guard: run each graded test cell from a clean state.

The grading kernel (:mod:`.kernel`) calls :func:`snapshot` once, before any student code runs.
For every graded test cell the grader (:class:`.preprocessors.GuardedExecute`) sends, instead of
the cell's text, one line that calls :func:`run` with the test code encoded and a fresh token.
:func:`run` first puts back what tests rely on and student code may have changed — IPython's
input and AST transformers, event callbacks, ``showtraceback`` and the other shell and kernel
methods, ``sys.excepthook``, ``sys.stdout``/``stderr``, import hooks, trace functions, the
builtins, and every ``course_utils`` module (``checks`` included), ``numpy`` and ``math`` — then
compiles the test with Python's own compiler (no IPython transformer sees it) and runs it in the
notebook's namespace. Only when the code ran to its end does it print the token; the grader
gives points only for a cell whose output holds its token and no error.

This raises the bar; it is not a wall. Student code runs in this same process and can, with
effort aimed at this module, defeat it (see the README's "What the sandbox does not do").
"""

from __future__ import annotations

import base64
import builtins
import sys

__all__ = ["snapshot", "restore", "run"]

_PROTECTED_MODULES = ("numpy", "math", "builtins")
_state: dict | None = None


def _class_dicts(*objects) -> dict[type, dict]:
    return {cls: dict(vars(cls)) for obj in objects for cls in type(obj).__mro__
            if cls is not object}


def snapshot(shell, kernel) -> None:
    """Record the pristine state of ``shell`` and ``kernel``; call once, before student code."""
    global _state
    modules = {name: module for name, module in sys.modules.items()
               if name == "course_utils" or name.startswith("course_utils.")
               or name in _PROTECTED_MODULES}
    _state = {
        "shell": shell, "kernel": kernel,
        "lists": {name: list(getattr(shell, name)) for name in
                  ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")},
        "callbacks": {event: list(funcs) for event, funcs in shell.events.callbacks.items()},
        "attrs": {id(obj): (obj, {k: v for k, v in vars(obj).items() if callable(v)})
                  for obj in (shell, kernel)},
        "classes": _class_dicts(shell, kernel, shell.input_transformer_manager),
        "transformer_manager": shell.input_transformer_manager,
        "manager_lists": {name: list(getattr(shell.input_transformer_manager, name))
                          for name in ("cleanup_transforms", "line_transforms",
                                       "token_transformers")},
        "sys": {name: getattr(sys, name) for name in
                ("excepthook", "displayhook", "stdout", "stderr", "stdin")},
        "meta_path": list(sys.meta_path), "path_hooks": list(sys.path_hooks),
        "modules": modules,
        "module_dicts": {name: dict(vars(module)) for name, module in modules.items()},
    }
    _state["module_dicts"][__name__] = dict(globals())  # this module, with its snapshot set


def _restore_dict(target: dict, saved: dict) -> None:
    """Put back every saved entry; names added since are left (IPython adds some on purpose)."""
    for key, value in saved.items():
        if target.get(key, _MISSING) is not value:
            target[key] = value


_MISSING = object()


def restore() -> None:
    """Put back everything :func:`snapshot` recorded.

    Raises:
        RuntimeError: :func:`snapshot` was never called (the kernel was not started by
            :mod:`.kernel`), so there is nothing trustworthy to restore.
    """
    if _state is None:
        raise RuntimeError("the test guard has no snapshot: this kernel was not started by "
                           "course_utils.grading.kernel")
    state = _state
    shell = state["shell"]
    sys.settrace(None)
    sys.setprofile(None)
    for name, module in state["modules"].items():
        sys.modules[name] = module
        _restore_dict(vars(module), state["module_dicts"][name])
    for cls, saved in state["classes"].items():
        for key, value in saved.items():
            if cls.__dict__.get(key, _MISSING) is not value:
                try:
                    setattr(cls, key, value)
                except (AttributeError, TypeError):  # read-only slots of built-in types
                    pass
    for obj, callables in state["attrs"].values():
        for key in [k for k in vars(obj) if k not in callables
                    and callable(getattr(type(obj), k, None))]:
            delattr(obj, key)  # an instance attribute hiding a method: a patch
        for key, value in callables.items():
            if vars(obj).get(key, _MISSING) is not value:
                setattr(obj, key, value)
    shell.input_transformer_manager = state["transformer_manager"]
    for name, saved in state["manager_lists"].items():
        setattr(shell.input_transformer_manager, name, list(saved))
    for name, saved in state["lists"].items():
        getattr(shell, name)[:] = saved  # some are properties over the manager's lists
    shell.events.callbacks.clear()
    shell.events.callbacks.update({event: list(funcs)
                                   for event, funcs in state["callbacks"].items()})
    for name, value in state["sys"].items():
        setattr(sys, name, value)
    sys.meta_path[:] = state["meta_path"]
    sys.path_hooks[:] = state["path_hooks"]


def run(payload: str, token: str, clean: bool = True) -> None:
    """Run one test cell's code (base64 ``payload``) in the notebook's namespace.

    Args:
        payload: the test code, UTF-8 and base64-encoded (so no input transformer can read it
            as code).
        token: printed on its own line only if the code ran to its end without an exception.
        clean: call :func:`restore` first (the canaries run without, to see what a test left).
    """
    if clean:
        restore()
    shell = _state["shell"] if _state else None
    namespace = shell.user_ns if shell is not None else sys.modules["__main__"].__dict__
    source = base64.b64decode(payload).decode("utf-8")
    code = builtins.compile(source, "<test cell>", "exec", dont_inherit=True)
    exec(code, namespace)  # noqa: S102 (the instructor's test code)
    sys.stdout.write(f"\n{token}\n")
    sys.stdout.flush()
