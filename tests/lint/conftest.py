"""Fixtures shared by the linter's tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from resilient_dask.lint.cli import lint


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a (dedented) file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def run_lint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    """Invoke the click command in-process, from tmp_path as working directory."""
    monkeypatch.chdir(tmp_path)

    def _run(*args: str, input: str | bytes | None = None) -> Result:
        return CliRunner().invoke(lint, list(args), input=input, catch_exceptions=False)

    return _run
