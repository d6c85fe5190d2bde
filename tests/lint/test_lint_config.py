"""``[tool.resilient-dask.lint]`` in the nearest pyproject.toml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from lint_samples import RETURNED_FUTURE

Run = Callable[..., Result]
Write = Callable[..., Path]


def test_ignore_from_pyproject(run_lint: Run, write: Write) -> None:
    """``ignore`` in the table disables a rule."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nignore = ["RD001"]\n')
    write("src/bad.py", RETURNED_FUTURE)
    assert run_lint("src").exit_code == 0


def test_select_from_pyproject(run_lint: Run, write: Write) -> None:
    """``select`` in the table limits the rules."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nselect = ["RD002"]\n')
    write("bad.py", RETURNED_FUTURE)
    assert run_lint("bad.py").exit_code == 0


def test_cli_select_overrides_config_select(run_lint: Run, write: Write) -> None:
    """``--select`` replaces the configured select."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nselect = ["RD002"]\n')
    write("bad.py", RETURNED_FUTURE)
    assert run_lint("--select", "RD001", "bad.py").exit_code == 1


def test_nearest_pyproject_wins(run_lint: Run, write: Write) -> None:
    """The pyproject.toml closest to the checked path is used."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nignore = ["RD001"]\n')
    write("sub/pyproject.toml", "[tool.resilient-dask.lint]\nignore = []\n")
    write("sub/bad.py", RETURNED_FUTURE)
    assert run_lint("sub/bad.py").exit_code == 1


def test_exclude_globs_skip_files_and_directories(run_lint: Run, write: Write) -> None:
    """``exclude`` globs match file names and directories below the project root."""
    write("pyproject.toml",
          '[tool.resilient-dask.lint]\nexclude = ["generated", "*_old.py"]\n')
    write("generated/bad.py", RETURNED_FUTURE)
    write("job_old.py", RETURNED_FUTURE)
    write("job.py", RETURNED_FUTURE)
    result = run_lint(".")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["job.py"]


def test_per_file_ignores(run_lint: Run, write: Write) -> None:
    """``per-file-ignores`` disables rules for matching paths only."""
    write("pyproject.toml",
          '[tool.resilient-dask.lint.per-file-ignores]\n"tests/*" = ["RD001"]\n')
    write("tests/test_x.py", RETURNED_FUTURE)
    write("src/x.py", RETURNED_FUTURE)
    result = run_lint("tests", "src")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["src/x.py"]


def test_unknown_code_in_config_is_an_error(run_lint: Run, write: Write) -> None:
    """An unknown code in select: one line naming key and value, exit 2."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nselect = ["RD001", "XY9"]\n')
    write("ok.py", "x = 1\n")
    result = run_lint("ok.py")
    assert result.exit_code == 2
    assert "'select'" in result.stderr and "'XY9'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_wrong_type_in_config_is_an_error(run_lint: Run, write: Write) -> None:
    """A value of the wrong type names the key and the value, exit 2."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nignore = "RD001"\n')
    write("ok.py", "x = 1\n")
    result = run_lint("ok.py")
    assert result.exit_code == 2
    assert "'ignore' must be a list of strings, got 'RD001'" in result.stderr


def test_unknown_key_in_config_is_an_error(run_lint: Run, write: Write) -> None:
    """A misspelt key is rejected with the list of valid keys."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nselct = ["RD001"]\n')
    write("ok.py", "x = 1\n")
    result = run_lint("ok.py")
    assert result.exit_code == 2
    assert "unknown key 'selct'" in result.stderr


def test_invalid_toml_is_an_error(run_lint: Run, write: Write) -> None:
    """A pyproject.toml that is not TOML exits 2 with one line."""
    write("pyproject.toml", "[tool.resilient-dask.lint\n")
    write("ok.py", "x = 1\n")
    result = run_lint("ok.py")
    assert result.exit_code == 2
    assert "not valid TOML" in result.stderr


def test_isolated_ignores_configuration(run_lint: Run, write: Write) -> None:
    """``--isolated`` ignores pyproject.toml."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nignore = ["RD001"]\n')
    write("bad.py", RETURNED_FUTURE)
    assert run_lint("--isolated", "bad.py").exit_code == 1


def test_each_path_uses_its_nearest_pyproject(run_lint: Run, write: Write) -> None:
    """``lint a.py proj/``: files under proj/ follow proj/pyproject.toml, a.py does not."""
    write("a.py", RETURNED_FUTURE)
    write("proj/pyproject.toml", '[tool.resilient-dask.lint]\nignore = ["RD001"]\n')
    write("proj/job.py", RETURNED_FUTURE)
    result = run_lint("a.py", "proj/")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["a.py"]


def test_nested_pyproject_applies_below_it_only(run_lint: Run, write: Write) -> None:
    """A sub-project's table applies to its files; the outer table to the others."""
    write("pyproject.toml", '[tool.resilient-dask.lint]\nexclude = ["skip_*.py"]\n')
    write("skip_top.py", RETURNED_FUTURE)
    write("top.py", RETURNED_FUTURE)
    write("sub/pyproject.toml", '[tool.resilient-dask.lint]\nignore = ["RD001"]\n')
    write("sub/inner.py", RETURNED_FUTURE)
    result = run_lint(".")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["top.py"]


def test_invalid_nested_pyproject_is_an_error(run_lint: Run, write: Write) -> None:
    """An invalid table found for one of the files exits 2 naming its file and key."""
    write("ok.py", "x = 1\n")
    write("proj/pyproject.toml", '[tool.resilient-dask.lint]\nselct = ["RD001"]\n')
    write("proj/job.py", "x = 1\n")
    result = run_lint("ok.py", "proj")
    assert result.exit_code == 2
    assert "proj" in result.stderr and "unknown key 'selct'" in result.stderr
