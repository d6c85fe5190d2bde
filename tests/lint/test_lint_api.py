"""The Python API: lint_source, lint_paths, noqa handling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lint_samples import CLEAN, RETURNED_FUTURE

import resilient_dask.lint as api
from resilient_dask.lint import Diagnostic, lint_paths, lint_source
from resilient_dask.lint.runner import PARALLEL_MIN_FILES

Write = Callable[..., Path]


def test_public_api_is_sorted_and_complete() -> None:
    """``__all__`` is sorted (isort style, as ruff's RUF022) and has the entry points."""
    style = sorted(api.__all__, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    assert api.__all__ == style
    assert {"lint_source", "lint_paths", "Diagnostic", "RULES"} <= set(api.__all__)


def test_lint_source_returns_frozen_diagnostics() -> None:
    """Diagnostics are frozen dataclasses with every field filled."""
    (found,) = lint_source(RETURNED_FUTURE, "job.py")
    assert isinstance(found, Diagnostic)
    assert (found.path, found.line, found.col, found.code) == ("job.py", 6, 5, "RD001")
    assert found.fix and found.message
    with pytest.raises(AttributeError):
        found.line = 1  # type: ignore[misc]


def test_lint_source_accepts_bytes() -> None:
    """Bytes are decoded like a file would be."""
    assert [d.code for d in lint_source(RETURNED_FUTURE.encode())] == ["RD001"]


def test_bare_noqa_suppresses_everything_on_the_line() -> None:
    """``# noqa`` without codes silences every rule on its line."""
    source = RETURNED_FUTURE.replace("return fut", "return fut  # noqa")
    assert lint_source(source) == []


def test_noqa_for_another_code_does_not_suppress() -> None:
    """``# noqa: E501`` does not silence RD001."""
    source = RETURNED_FUTURE.replace("return fut", "return fut  # noqa: E501")
    assert [d.code for d in lint_source(source)] == ["RD001"]


def test_noqa_with_several_codes() -> None:
    """``# noqa: RD002, RD001`` silences each listed code."""
    source = RETURNED_FUTURE.replace("return fut", "return fut  # NOQA:RD002,RD001")
    assert lint_source(source) == []


def test_unknown_selector_raises_value_error() -> None:
    """An unknown selector in the API is a ValueError naming it."""
    with pytest.raises(ValueError, match="RD999"):
        lint_source(CLEAN, select=["RD999"])


def test_lint_paths_report_is_a_sequence_of_diagnostics(write: Write) -> None:
    """The report iterates over diagnostics and records errors and files checked."""
    good = write("a.py", RETURNED_FUTURE)
    report = lint_paths([good, "missing.py"])
    assert [d.code for d in report] == ["RD001"]
    assert len(report) == 1 and report[0].line == 6
    assert report.files_checked == 1
    assert [e.path for e in report.errors] == ["missing.py"]
    assert report.exit_code == 1


def test_many_files_use_the_process_pool_with_same_results(write: Write) -> None:
    """A pooled run over many files finds the same as a serial run, in order."""
    for index in range(PARALLEL_MIN_FILES + 2):
        write(f"pkg/m{index:03}.py", RETURNED_FUTURE if index % 3 == 0 else CLEAN)
    root = write("pkg/zz.py", CLEAN).parent
    pooled = lint_paths([root], jobs=2)
    serial = lint_paths([root], jobs=1)
    assert pooled.diagnostics == serial.diagnostics
    assert len(pooled) == (PARALLEL_MIN_FILES + 4) // 3
    assert pooled.files_checked == PARALLEL_MIN_FILES + 3


def test_non_ascii_line_reports_character_column() -> None:
    """Columns count characters, not UTF-8 bytes."""
    source = RETURNED_FUTURE.replace("    return fut", "    é = 1; return fut")
    (found,) = lint_source(source)
    assert found.col == 12
