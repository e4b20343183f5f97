"""The package's import graph: no cycle inside course_utils, and leaf modules import no course code.

Every ``import``/``from ... import`` is read with :mod:`ast`, at module level and inside functions
(a lazy import is still a dependency), so a cycle hidden behind a function-level import fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"
# Edges allowed to close a cycle (none: keep it that way). The test below fails when a listed edge
# is gone, so the list cannot go stale.
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()
LEAVES = ("course_utils.errors", "course_utils.paths", "course_utils.hashing",
          "course_utils.atomic", "course_utils.runtime.tf", "course_utils.grading.processes",
          "course_utils.grading.markers", "course_utils.grading.cgroups",
          "course_utils.grading.syscalls")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of what ``from ... import`` names, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The course modules that ``source`` (the text of ``module``) imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            names = [f"{target}.{alias.name}" for alias in node.names] + [target]
        else:
            continue
        for name in names:
            # `from pkg import mod` names a module; `from mod import func` names the module
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("course_utils") and name != module:
                found.add(name)
    # importing a.b.c runs a/__init__ and a/b/__init__ first; those edges are not cycles we own
    return {name for name in found if not module.startswith(name + ".")}


def graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    known = set(modules)
    return {name: imports(path.read_text(), name, path.name == "__init__.py", known)
            for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_names_a_cycle():
    """The checker itself: a planted cycle is found and named, an acyclic graph passes."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    source = "def f():\n    from .b import x\n"  # a lazy import counts
    assert imports(source, "course_utils.a", False, {"course_utils.a", "course_utils.b"}) == \
        {"course_utils.b"}


def test_no_import_cycle():
    """No module of course_utils reaches itself through imports (function-level ones included)."""
    edges = graph(_modules())
    for source, target in KNOWN_CYCLE_EDGES:
        assert target in edges[source], f"{source} -> {target} is gone: empty KNOWN_CYCLE_EDGES"
        edges[source] = edges[source] - {target}
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_imports_no_course_module(leaf):
    """A leaf module (errors, paths, hashing, atomic writes, TF quieting) imports nothing of ours
    but the exceptions in ``errors``."""
    modules = _modules()
    assert leaf in modules, f"{leaf} is gone: update LEAVES"
    assert graph(modules)[leaf] <= {"course_utils.errors"}


def test_weights_package_names_do_not_shadow_its_modules():
    """``course_utils.weights.fetch`` must be the store's function, not a submodule of that name
    (importing a submodule binds its name on the package, hiding the forwarded function)."""
    import course_utils.weights.store as store

    submodules = {path.stem for path in (PACKAGE / "weights").glob("*.py")}
    assert not submodules & set(store.__all__)
