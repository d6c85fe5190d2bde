"""The whole-project pass: a task defined in one module and submitted from another."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from resilient_dask.lint import LintReport, lint_paths
from resilient_dask.lint.project import ModuleName, ModuleNames

Write = Callable[..., Path]
FIXTURE = Path(__file__).parent / "fixtures" / "two_modules"

TASKS = """\
from distributed import wait


def settle(futures):
    wait(futures)
    return len(futures)
"""
"""A function that blocks (RD002 at line 5) only if something runs it as a task."""


def _found(report: LintReport) -> list[tuple[str, int, str]]:
    return [(Path(d.path).name, d.line, d.code) for d in report]


def test_task_defined_in_one_module_and_submitted_from_another_is_flagged() -> None:
    """pkg/main.py submits pkg.tasks.settle and pkg.tasks.expand: RD002 and RD001 fire
    in pkg/tasks.py."""
    report = lint_paths([FIXTURE])
    assert _found(report) == [("tasks.py", 7, "RD002"), ("tasks.py", 17, "RD001")]
    assert "task 'settle' blocks on wait()" in report.diagnostics[0].message
    assert "task 'expand' returns a Future" in report.diagnostics[1].message


def test_the_fixture_linted_from_the_repository_root_still_shows_the_data_loss() -> None:
    """From the root, the fixture is under tests/ (test code, where RD002 is not run):
    RD001, an error that loses data, is reported there all the same."""
    root = Path(__file__).parents[2]
    report = lint_paths([root], select=["RD001", "RD002"])
    in_fixture = [d for d in report if "two_modules" in d.path]
    assert [(Path(d.path).name, d.line, d.code) for d in in_fixture] == [("tasks.py", 17, "RD001")]


def test_the_defining_module_alone_is_clean() -> None:
    """Without the submitting module in the run, nothing says settle is a task."""
    assert _found(lint_paths([FIXTURE / "pkg" / "tasks.py"])) == []


def test_absolute_import_of_the_module(write: Write, tmp_path: Path) -> None:
    """``import pkg.tasks as t; client.map(t.settle, ...)`` is followed too."""
    write("pkg/__init__.py", "")
    write("pkg/tasks.py", TASKS)
    write("run.py", "from distributed import Client\nimport pkg.tasks as t\n\n"
                    "futures = Client().map(t.settle, batches)\n")
    report = lint_paths([tmp_path])
    assert _found(report) == [("tasks.py", 5, "RD002")]


def test_scripts_side_by_side_without_a_package(write: Write) -> None:
    """``from tasks import settle`` between two scripts of one directory."""
    write("scripts/tasks.py", TASKS)
    script = write("scripts/run.py", "from distributed import Client\nfrom tasks import settle\n\n"
                                     "future = Client().submit(settle, batch)\n")
    assert _found(lint_paths([script.parent])) == [("tasks.py", 5, "RD002")]


def test_delayed_through_a_partial_from_another_module(write: Write) -> None:
    """``delayed(partial(settle, ...))`` in another module makes settle a delayed task."""
    write("pkg/__init__.py", "")
    write("pkg/tasks.py", TASKS)
    main = write("pkg/main.py", "from functools import partial\n\nimport dask\n\n"
                                "from pkg.tasks import settle\n\n"
                                "lazy = dask.delayed(partial(settle))(futures)\n")
    assert _found(lint_paths([main.parent])) == [("tasks.py", 5, "RD002")]


def test_the_second_pass_runs_in_the_process_pool(write: Write) -> None:
    """With enough files for the pool, the result is the same as in one process."""
    for index in range(60):
        write(f"pkg/filler_{index:02}.py", f"VALUE = {index}\n")
    write("pkg/__init__.py", "")
    write("pkg/tasks.py", TASKS)
    main = write("pkg/main.py", "from distributed import Client\n\nfrom .tasks import settle\n\n"
                                "Client().submit(settle, batch)\n")
    pooled, serial = lint_paths([main.parent], jobs=2), lint_paths([main.parent], jobs=1)
    assert _found(pooled) == _found(serial) == [("tasks.py", 5, "RD002")]


@pytest.mark.parametrize(
    ("module", "qualname", "absolute"),
    [
        (ModuleName("pkg.main"), ".tasks.settle", "pkg.tasks.settle"),
        (ModuleName("pkg.sub.main"), "..tasks.settle", "pkg.tasks.settle"),
        (ModuleName("pkg", is_package=True), ".tasks.settle", "pkg.tasks.settle"),
        (ModuleName("pkg.main"), "other.tasks.settle", "other.tasks.settle"),
    ],
)
def test_relative_imports_resolve_like_python(
    module: ModuleName, qualname: str, absolute: str
) -> None:
    """Relative import paths are made absolute from the importing module's package."""
    assert module.absolute(qualname) == absolute


def test_module_names_follow_init_files(write: Write) -> None:
    """A file's module name includes every enclosing directory with an __init__.py."""
    write("top/pkg/__init__.py", "")
    write("top/pkg/sub/__init__.py", "")
    deep = write("top/pkg/sub/work.py", "")
    names = ModuleNames()
    assert names.of(deep) == ModuleName("pkg.sub.work")
    assert names.of(deep.parent / "__init__.py") == ModuleName("pkg.sub", is_package=True)
