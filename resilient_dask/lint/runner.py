"""Linting files and directories: discovery, reading, and a process pool for many files."""

from __future__ import annotations

import multiprocessing
import os
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from resilient_dask.lint.config import ConfigSource, LintConfig
from resilient_dask.lint.diagnostics import (
    SEVERITY_ORDER,
    Diagnostic,
    PathError,
    Severity,
    SourceError,
)
from resilient_dask.lint.engine import check_module, decode, resolve_codes
from resilient_dask.lint.notebooks import NOTEBOOK_SUFFIX, is_notebook, notebook_source
from resilient_dask.lint.project import ModuleName, ModuleNames, ProjectTasks
from resilient_dask.lint.testcode import is_test_path

LINTED_SUFFIXES = (".py", NOTEBOOK_SUFFIX)
"""What a directory walk collects: Python modules and Jupyter notebooks."""
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
"""Directory names never walked into (besides hidden ones, such as .venv and .git)."""
PARALLEL_MIN_FILES = 48
"""Below this many files a run stays in one process (a pool costs ~50 ms to start)."""
STDIN = "-"


@dataclass(frozen=True)
class LintReport:
    """What a run found: diagnostics (iterate over the report), and paths not checked."""

    diagnostics: tuple[Diagnostic, ...]
    errors: tuple[PathError, ...]
    files_checked: int

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.diagnostics)

    def __len__(self) -> int:
        return len(self.diagnostics)

    def __getitem__(self, index: int) -> Diagnostic:
        return self.diagnostics[index]

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings or some paths failed, 2 nothing could be checked."""
        return self.exit_status()

    def exit_status(self, *, fail_on: Severity = "warning", exit_zero: bool = False) -> int:
        """The command line's exit status, as ruff computes it.

        2 when nothing could be checked; 1 when some path could not be checked, or
        a finding is at least as severe as ``fail_on`` (``"error"``: warnings are
        shown but do not fail) unless ``exit_zero``; 0 otherwise.
        """
        if self.errors and not self.files_checked:
            return 2
        if self.errors:
            return 1
        if exit_zero:
            return 0
        failing = SEVERITY_ORDER.index(fail_on)
        return int(any(SEVERITY_ORDER.index(d.severity) >= failing for d in self.diagnostics))


@dataclass(frozen=True)
class _Job:
    path: str
    display: str
    codes: tuple[str, ...]
    module: ModuleName
    test_code: bool
    imported_tasks: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Functions of this module that other modules of the run submit as tasks."""


@dataclass(frozen=True)
class _Outcome:
    diagnostics: list[Diagnostic]
    error: PathError | None = None
    submitted: tuple[tuple[str, str], ...] = ()


def discover(
    paths: Sequence[str], config: ConfigSource
) -> tuple[list[_Target], list[PathError]]:
    """Files to check, in a deterministic order, and per-path problems.

    A directory or file is skipped when the ``exclude`` of the configuration
    nearest to it matches.
    """
    targets: list[_Target] = []
    errors: list[PathError] = []
    seen: set[str] = set()
    for raw in paths:
        if raw == STDIN:
            targets.append(_Target(STDIN, STDIN, STDIN))
            continue
        path = Path(raw)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            kind = "broken symbolic link" if path.is_symlink() else "no such file or directory"
            errors.append(PathError(raw, kind))
            continue
        except OSError as error:
            errors.append(PathError(raw, f"cannot access: {error.strerror or error}"))
            continue
        if stat.S_ISDIR(mode):
            found, problems = _walk(path, config)
            errors.extend(problems)
            if not found and not problems:
                errors.append(
                    PathError(raw, "no Python files found (searched for *.py and *.ipynb)")
                )
            for item in found:
                if item.path not in seen:
                    seen.add(item.path)
                    targets.append(item)
        elif not config.for_path(path).is_excluded(path) and raw not in seen:
            seen.add(raw)
            targets.append(_Target(raw, raw, path.name))
    return targets, errors


@dataclass(frozen=True)
class _Target:
    path: str
    display: str
    within: str
    """The path below the directory given on the command line (a file given: its
    name). Whether it is test code is judged from this, so a tree of fixtures kept
    under ``tests/`` and linted by itself is checked as the code it is."""


def _walk(root: Path, config: ConfigSource) -> tuple[list[_Target], list[PathError]]:
    found: list[_Target] = []
    problems: list[PathError] = []

    def on_error(error: OSError) -> None:
        problems.append(
            PathError(
                str(error.filename or root), f"cannot list directory: {error.strerror or error}"
            )
        )

    for directory, dirnames, filenames in os.walk(root, onerror=on_error):
        base = Path(directory)
        here = config.for_path(base)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in SKIPPED_DIRS
            and not here.is_excluded(base / d)
            and not config.for_path(base / d).is_excluded(base / d)
        )
        for name in sorted(filenames):
            if not name.endswith(LINTED_SUFFIXES):
                continue
            path = base / name
            if here.is_excluded(path):
                continue
            try:
                mode = path.stat().st_mode
            except OSError:
                problems.append(PathError(str(path), "broken symbolic link"))
                continue
            if stat.S_ISREG(mode):
                found.append(_Target(str(path), str(path), str(path.relative_to(root))))
    found.sort(key=lambda target: Path(target.path).parts)
    return found, problems


def read_path(path: str) -> bytes:
    """The bytes of a file, or of standard input for ``-``."""
    if path == STDIN:
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def _check_job(job: _Job) -> _Outcome:
    try:
        data = read_path(job.path)
    except IsADirectoryError:
        return _Outcome([], PathError(job.display, "is a directory"))
    except OSError as error:
        return _Outcome([], PathError(job.display, f"cannot read: {error.strerror or error}"))
    if is_notebook(job.path) or is_notebook(job.display):
        return _check_notebook(data, job)
    try:
        result = check_module(
            decode(data, job.display), job.display, job.codes,
            imported_tasks=job.imported_tasks, test_code=job.test_code,
        )  # fmt: skip
    except SourceError as error:
        return _Outcome([], error.error)
    return _Outcome(result.diagnostics, None, result.submitted)


def _check_notebook(data: bytes, job: _Job) -> _Outcome:
    try:
        notebook = notebook_source(data, job.display)
    except SourceError as error:
        return _Outcome([], error.error)
    try:
        result = check_module(
            notebook.source, job.display, job.codes,
            imported_tasks=job.imported_tasks, test_code=job.test_code,
        )  # fmt: skip
    except SourceError as error:
        return _Outcome([], notebook.locate_error(error.error))
    return _Outcome([notebook.locate(d) for d in result.diagnostics], None, result.submitted)


def lint_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    config: ConfigSource | None = None,
    jobs: int | None = None,
    stdin_filename: str | None = None,
) -> LintReport:
    """Lint files and directories (``"-"`` is standard input); never raises for bad inputs.

    ``config`` is one :class:`LintConfig` for every file (default: the built-in
    defaults), or :class:`NearestConfig` to use, for each file, the nearest
    pyproject.toml (as the command line does). ``select``/``ignore`` override/extend
    the configuration's. Directories are walked for ``*.py``, skipping hidden
    directories and ``__pycache__``. Many files are checked in a process pool of
    ``jobs`` workers (default: one per CPU). Raises ValueError only for an unknown
    rule selector, and ConfigError for an invalid pyproject.toml found by
    :class:`NearestConfig`.
    """
    source = config or LintConfig()
    resolve_codes(select, ignore)  # an unknown selector fails even when no file is found
    raw = [os.fspath(p) for p in paths]
    targets, errors = discover(raw, source)
    codes_for: dict[tuple[int, tuple[str, ...]], tuple[str, ...]] = {}
    names = ModuleNames()
    jobs_list: list[_Job] = []
    for target in targets:
        display = stdin_filename if target.path == STDIN and stdin_filename else target.display
        settings = source.for_path(Path(display if target.path == STDIN else target.path))
        extra = settings.ignored_for(Path(display)) if settings.per_file_ignores else ()
        key = (id(settings), extra)
        codes = codes_for.get(key)
        if codes is None:
            base_select = settings.select if select is None else tuple(select)
            base_ignore = (*settings.ignore, *(ignore or ()), *extra)
            codes = codes_for[key] = resolve_codes(base_select, base_ignore)
        module = names.of(Path(display if target.path == STDIN else target.path))
        within = display if target.path == STDIN else target.within
        jobs_list.append(_Job(target.path, display, codes, module, is_test_path(within)))
    results = _run(jobs_list, jobs)
    _recheck_submitted_elsewhere(jobs_list, results, jobs)
    diagnostics: list[Diagnostic] = []
    checked = 0
    for outcome in results:
        diagnostics.extend(outcome.diagnostics)
        if outcome.error is None:
            checked += 1
        else:
            errors.append(outcome.error)
    return LintReport(tuple(diagnostics), tuple(errors), checked)


def _recheck_submitted_elsewhere(
    jobs_list: list[_Job], results: list[_Outcome], jobs: int | None
) -> None:
    """The second pass: check again, in place, the modules that define a function
    another module of the run submits as a task (see :mod:`.project`)."""
    project = ProjectTasks()
    for job, outcome in zip(jobs_list, results, strict=True):
        if outcome.submitted:
            project.add(job.module, outcome.submitted)
    if not project.by_module:
        return
    again: list[int] = []
    rechecks: list[_Job] = []
    for index, (job, outcome) in enumerate(zip(jobs_list, results, strict=True)):
        imported = project.defined_in(job.module)
        if imported and outcome.error is None and job.path != STDIN:
            again.append(index)
            rechecks.append(replace(job, imported_tasks=imported))
    for index, outcome in zip(again, _run(rechecks, jobs), strict=True):
        results[index] = outcome


def _run(jobs_list: list[_Job], jobs: int | None) -> list[_Outcome]:
    workers = jobs if jobs and jobs > 0 else (os.cpu_count() or 1)
    workers = min(workers, max(1, len(jobs_list) // 8))
    if (
        workers <= 1
        or len(jobs_list) < PARALLEL_MIN_FILES
        or any(j.path == STDIN for j in jobs_list)
    ):
        return [_check_job(job) for job in jobs_list]
    # fork is fastest, but forking a process that runs other threads can deadlock
    safe_fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    context = multiprocessing.get_context("fork" if safe_fork else "spawn")
    chunksize = max(1, len(jobs_list) // (workers * 8))
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            return list(pool.map(_check_job, jobs_list, chunksize=chunksize))
    except (OSError, RuntimeError):  # no processes available here: do it serially
        return [_check_job(job) for job in jobs_list]
