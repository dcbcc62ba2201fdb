"""The package's modules import each other without a circle, lazy imports (inside functions)
included: a reader can follow the data flow upward, and no module needs a late import to load."""
from __future__ import annotations

import ast
import os
import warnings

import pytest

import recbole_csrec

PACKAGE_DIR = os.path.dirname(recbole_csrec.__file__)


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _imported_modules(path: str, modules: set[str]) -> set[str]:
    """Package modules that `path` imports anywhere in its body (`from X import name` counts the
    module X.name when that is a module, else X)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    paths = {}
    for folder, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                paths[_module_name(path)] = path
    modules = set(paths)
    graph = {name: _imported_modules(path, modules) - {name} for name, path in paths.items()}
    # a package's __init__ is not an import of its submodules' users: drop parent-package edges
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_package():
    graph = import_graph()
    assert len(graph) > 50 and "recbole_csrec.quick_start" in graph
    assert circles(graph) == []


def test_load_data_and_model_lives_where_recbole_users_look():
    from recbole_csrec.quick_start import load_data_and_model, run_recbole_csrec

    assert callable(run_recbole_csrec)
    with pytest.warns(DeprecationWarning, match="moved to recbole_csrec.quick_start"):
        from recbole_csrec.utils import load_data_and_model as old
    assert old is load_data_and_model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from recbole_csrec.utils import get_model  # noqa: F401  (RecBole's place too: no warning)
