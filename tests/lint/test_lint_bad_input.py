"""Inputs that cannot be checked give one clear line each, never a traceback."""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from lint_samples import RETURNED_FUTURE

from resilient_dask.lint import SourceError, lint_paths, lint_source

Run = Callable[..., Result]
Write = Callable[..., Path]


def test_syntax_error_names_file_line_and_problem(run_lint: Run, write: Write) -> None:
    """A syntax error: ``path:line:col: error: SyntaxError ...``, exit 2 when alone."""
    write("broken.py", "def f(:\n    pass\n")
    result = run_lint("broken.py")
    assert result.exit_code == 2
    assert result.stderr.startswith("broken.py:1:")
    assert "SyntaxError" in result.stderr and result.stderr.count("\n") == 1


def test_non_utf8_bytes_are_reported(run_lint: Run, write: Write) -> None:
    """Undecodable bytes name the byte and the line."""
    write("latin.py", b"x = 1\nname = 'caf\xe9'\n")
    result = run_lint("latin.py")
    assert result.exit_code == 2
    assert "not valid UTF-8: byte 0xe9 at line 2" in result.stderr


def test_declared_encoding_is_honoured(run_lint: Run, write: Write) -> None:
    """A PEP 263 coding line makes non-UTF-8 source readable."""
    write("latin.py", b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n")
    assert run_lint("latin.py").exit_code == 0


def test_binary_file_is_reported(run_lint: Run, write: Write) -> None:
    """A file with NUL bytes is reported as binary."""
    write("blob.py", b"\x00\x01\x02binary")
    result = run_lint("blob.py")
    assert result.exit_code == 2
    assert "binary file" in result.stderr


def test_missing_path_is_reported(run_lint: Run) -> None:
    """A path that does not exist: one line, exit 2."""
    result = run_lint("nowhere.py")
    assert result.exit_code == 2
    assert result.stderr == "nowhere.py: error: no such file or directory\n"


def test_empty_directory_is_reported(run_lint: Run, tmp_path: Path) -> None:
    """A directory without Python files: one line, exit 2."""
    (tmp_path / "empty").mkdir()
    result = run_lint("empty")
    assert result.exit_code == 2
    assert "no Python files found" in result.stderr


def test_broken_symlink_in_directory_is_reported(run_lint: Run, write: Write,
                                                 tmp_path: Path) -> None:
    """A dangling ``*.py`` symlink met while walking is reported; the rest is checked."""
    write("pkg/bad.py", RETURNED_FUTURE)
    os.symlink(tmp_path / "gone.py", tmp_path / "pkg" / "link.py")
    result = run_lint("pkg")
    assert result.exit_code == 1
    assert "link.py: error: broken symbolic link" in result.stderr
    assert "RD001" in result.stdout


def test_unreadable_file_is_reported(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PermissionError on open is one error line (simulated: tests run as root)."""
    path = write("secret.py", RETURNED_FUTURE)
    real_open = builtins.open

    def deny(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    report = lint_paths([path])
    assert [e.render() for e in report.errors] == [f"{path}: error: cannot read: Permission denied"]
    assert report.exit_code == 2


def test_findings_still_reported_next_to_bad_paths(run_lint: Run, write: Write) -> None:
    """Bad paths do not stop the others: findings are printed and exit is 1."""
    write("bad.py", RETURNED_FUTURE)
    write("broken.py", "x = (\n")
    result = run_lint("bad.py", "broken.py", "missing.py")
    assert result.exit_code == 1
    assert result.stdout.startswith("bad.py:6:5: RD001")
    assert len(result.stderr.splitlines()) == 2


def test_deeply_nested_expression_is_reported_not_crashed(run_lint: Run, write: Write) -> None:
    """An expression too deep for the parser is one error line."""
    write("deep.py", "x = " + "+".join(["1"] * 30_000) + "\n")
    result = run_lint("deep.py")
    assert result.exit_code == 2
    assert "nested too deeply" in result.stderr


def test_lint_source_raises_source_error_for_bad_syntax() -> None:
    """The API raises SourceError (a ValueError) carrying the one-line message."""
    with pytest.raises(SourceError, match="SyntaxError"):
        lint_source("def f(:\n")
