"""Performance warnings are not reported in test code; errors are."""

from __future__ import annotations

import pytest
from lint_samples import RETURNED_FUTURE

from resilient_dask.lint import lint_source
from resilient_dask.lint.testcode import is_test_path

COMPUTE_IN_LOOP = """\
import dask

def summarise(parts):
    results = []
    for d in parts:
        results.append(d.compute())
    return results
"""
"""One RD006 warning at line 6."""


@pytest.mark.parametrize(
    "path", ["tests/test_io.py", "pkg/tests/helpers.py", "io_test.py", "conftest.py"]
)
def test_warnings_are_not_reported_in_test_files(path: str) -> None:
    """A test module (by pytest's names) gets no performance warning."""
    assert lint_source(COMPUTE_IN_LOOP, path) == []


def test_the_same_code_outside_tests_is_reported() -> None:
    """The same module under src/ gets its RD006 warning."""
    assert [(d.line, d.code) for d in lint_source(COMPUTE_IN_LOOP, "src/io.py")] == [(6, "RD006")]


def test_errors_are_reported_in_test_files() -> None:
    """An error rule (RD001) still fires in a test module."""
    assert [d.code for d in lint_source(RETURNED_FUTURE, "tests/test_tasks.py")] == ["RD001"]


def test_warnings_in_test_functions_of_other_files_are_reported() -> None:
    """Only test files count: a ``def test_*`` in a script or snippet gets its warnings."""
    source = COMPUTE_IN_LOOP.replace("def summarise", "def test_summarise")
    assert [(d.line, d.code) for d in lint_source(source, "analysis.py")] == [(6, "RD006")]


def test_test_paths_follow_pytest_names() -> None:
    """Only pytest's file names and test directories count as test code."""
    assert is_test_path("a/tests/x.py") and is_test_path("test_x.py")
    assert not is_test_path("src/contest.py") and not is_test_path("src/latest_tests.py")
