"""Test code: where performance advice does not apply.

Tests compute, scatter and submit one case at a time on purpose, to check each
result; the performance rules (severity ``warning``) give advice for code whose
speed matters. So the rules that do not check tests (``Rule.reported_in_tests``;
by default the warnings) are not reported in test files (``test_*.py``,
``*_test.py``, ``conftest.py``, anything under a ``tests``/``test``/``testing``
directory) nor in test functions (``def test_*``, methods of ``class Test*``)
elsewhere, such as notebooks and scripts. Errors (lost data, deadlocks, wrong
results) are reported everywhere: a test can block a worker thread or lose data
as well as any code.
"""

from __future__ import annotations

import ast
from pathlib import PurePath

_TEST_DIRECTORIES = frozenset({"tests", "test", "testing"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def is_test_path(path: str) -> bool:
    """A test module, by the names pytest collects (and ``conftest.py``)."""
    parts = PurePath(path.replace("\\", "/")).parts
    if not parts:
        return False
    name = parts[-1]
    if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return True
    return any(part in _TEST_DIRECTORIES for part in parts[:-1])


def test_function_lines(tree: ast.Module) -> list[tuple[int, int]]:
    """Line ranges of top-level ``def test_*`` and the methods of ``class Test*``."""
    ranges: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, _FUNCTIONS) and node.name.startswith("test"):
            ranges.append((node.lineno, node.end_lineno or node.lineno))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            ranges.append((node.lineno, node.end_lineno or node.lineno))
    return ranges
