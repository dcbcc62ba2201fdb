"""Small modules with one job each: no function over 60 lines and no module over 400 lines in the
package (docs/architecture.md)."""
from __future__ import annotations

import ast
import os

import recbole_csrec

PACKAGE_DIR = os.path.dirname(recbole_csrec.__file__)


def test_functions_and_modules_stay_small():
    too_long = []
    for folder, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            source = open(path).read()
            where = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))
            if source.count("\n") > 400:
                too_long.append(f"{where}: {source.count(chr(10))} lines")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > 60:
                        too_long.append(f"{where}: {node.name} has {lines} lines")
    assert too_long == []
