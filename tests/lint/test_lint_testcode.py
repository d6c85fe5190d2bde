"""Performance warnings are not reported in test code; errors are, except RD002."""

from __future__ import annotations

from pathlib import Path

import pytest
from lint_samples import RETURNED_FUTURE

from resilient_dask.lint import lint_paths, lint_source
from resilient_dask.lint.docs import explain
from resilient_dask.lint.rules.rd001_returned_future import ReturnedFuture
from resilient_dask.lint.rules.rd002_blocking_wait_in_task import BlockingWaitInTask
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


BLOCKS_ON_ITS_SUB_TASK = """\
from distributed import get_client

def f(x):
    client = get_client()
    return client.submit(inc, x).result()

def test_get_client(c):
    assert c.submit(f, 10).result() == 11
"""
"""How distributed tests get_client() from a task: RD002 at line 5 outside tests."""


def test_a_task_blocking_on_its_sub_task_is_reported_only_outside_tests() -> None:
    """RD002 is not run in test modules (the rule says why in --explain)."""
    assert lint_source(BLOCKS_ON_ITS_SUB_TASK, "tests/test_worker.py") == []
    found = lint_source(BLOCKS_ON_ITS_SUB_TASK, "src/jobs.py")
    assert [(d.line, d.code) for d in found] == [(5, "RD002")]


def test_explain_says_which_rules_skip_test_modules_and_why() -> None:
    text = explain(BlockingWaitInTask)
    assert "Not reported in test modules: a test that blocks a task" in text
    assert "Not reported in test modules" not in explain(ReturnedFuture)


def test_warnings_in_test_functions_of_other_files_are_reported() -> None:
    """Only test files count: a ``def test_*`` in a script or snippet gets its warnings."""
    source = COMPUTE_IN_LOOP.replace("def summarise", "def test_summarise")
    assert [(d.line, d.code) for d in lint_source(source, "analysis.py")] == [(6, "RD006")]


def test_test_paths_follow_pytest_names() -> None:
    """Only pytest's file names and test directories count as test code."""
    assert is_test_path("a/tests/x.py") and is_test_path("test_x.py")
    assert not is_test_path("src/contest.py") and not is_test_path("src/latest_tests.py")


def test_test_code_is_judged_below_the_directory_given(tmp_path: Path) -> None:
    """Linted from the repository root, tests/fixtures/jobs.py is test code; the fixture
    tree linted by itself (as its own project) is checked as the code it is."""
    fixture = tmp_path / "tests" / "fixtures"
    fixture.mkdir(parents=True)
    (fixture / "jobs.py").write_text(BLOCKS_ON_ITS_SUB_TASK)
    assert [d.code for d in lint_paths([tmp_path]).diagnostics] == []
    assert [d.code for d in lint_paths([fixture]).diagnostics] == ["RD002"]
    assert [d.code for d in lint_paths([fixture / "jobs.py"]).diagnostics] == ["RD002"]
