"""The shape of the code: no import circles inside dsl/ or gateway/, dsl never imports gateway, and no module
longer than a reader can hold.

Imports are read with `ast` (nothing is imported), relative ones resolved, imports inside functions counted
too (a lazy import still ties two modules together); only `if TYPE_CHECKING:` blocks are left out, since
they never run. ``from pkg import name`` counts as importing the submodule pkg.name when there is one, else pkg's __init__.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dsl", "gateway")
MAX_LINES = 650


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)  # the else branch does run
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _known(name: str) -> str | None:
    """The module of ours ``name`` is, or lies in (``dsl.ast.Route`` -> ``dsl.ast``); None if not ours."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import name` imports the submodule pkg.name when there is one, else pkg itself
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        for target in targets:
            got = _known(target)
            if got is not None and got != module:
                found.add(got)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycles(package: str) -> list[list[str]]:
    """One cycle per strongly connected component (Tarjan's algorithm) of the package's own import graph."""
    nodes = [m for m in GRAPH if m.split(".")[0] == package]
    edges = {m: sorted(t for t in GRAPH[m] if t.split(".")[0] == package) for m in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [_one_cycle(sorted(comp), edges) for comp in comps]


def _one_cycle(comp: list[str], edges: dict[str, list[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start, inside = comp[0], set(comp)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in edges[v]:
            if w == start:
                return paths[v] + [start]
            if w in inside and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return comp  # unreachable for a real component


def _assert_no_cycles(package: str) -> None:
    cycles = _cycles(package)
    assert not cycles, "import cycles:\n" + "\n".join("  " + " -> ".join(c) for c in cycles)


def _long_modules(package: str) -> list[str]:
    out = []
    for module, path in MODULES.items():
        if module.split(".")[0] == package:
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > MAX_LINES:
                out.append(f"{path.relative_to(ROOT)}: {n} lines")
    return out


def test_the_graph_sees_relative_and_lazy_imports() -> None:
    assert "dsl.ast" in GRAPH["dsl.compile"]        # from .ast import ...
    assert "dsl.reference" in GRAPH["dsl.tree"]     # a lazy import inside a method
    assert "dsl.tree" not in GRAPH["dsl.reference"]  # only under TYPE_CHECKING


def test_no_import_cycles_in_dsl() -> None:
    _assert_no_cycles("dsl")


def test_dsl_never_imports_gateway() -> None:
    bad = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if m.split(".")[0] == "dsl"
                 for t in ts if t.split(".")[0] == "gateway")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_in_gateway() -> None:
    _assert_no_cycles("gateway")


def test_dsl_modules_are_short_enough_to_read() -> None:
    assert not _long_modules("dsl"), _long_modules("dsl")


def test_gateway_modules_are_short_enough_to_read() -> None:
    assert not _long_modules("gateway"), _long_modules("gateway")


def test_every_dsl_module_says_its_job_and_its_public_names_exist() -> None:
    import importlib

    for module, path in MODULES.items():
        if module.split(".")[0] != "dsl":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{module} has no docstring saying its job"
        names = getattr(importlib.import_module(module), "__all__", ())
        missing = [n for n in names if not hasattr(importlib.import_module(module), n)]
        assert not missing, f"{module}.__all__ names what it does not define: {missing}"
