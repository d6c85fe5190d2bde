"""``[tool.resilient-dask.lint]`` in the nearest pyproject.toml, validated strictly.

:class:`LintConfig` is one table; :class:`NearestConfig` finds, for each file, the
table of the pyproject.toml nearest to it (as ruff does), reading each file once.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from resilient_dask.lint.rules import expand_selector

TABLE = "[tool.resilient-dask.lint]"
KEYS = ("select", "ignore", "exclude", "per-file-ignores")


class ConfigError(Exception):
    """An invalid configuration; the message is one line naming the key and value."""


@dataclass(frozen=True)
class LintConfig:
    """Settings of a run. ``root`` is the directory patterns are relative to."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    per_file_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    root: Path | None = None
    source: Path | None = None

    def relative(self, path: Path) -> str:
        """``path`` relative to :attr:`root` (POSIX style), or as given if outside it."""
        if self.root is not None:
            try:
                return path.resolve().relative_to(self.root).as_posix()
            except (ValueError, OSError):
                pass
        return path.as_posix()

    def is_excluded(self, path: Path) -> bool:
        """Whether an ``exclude`` glob matches the path, its name or a parent directory."""
        return bool(self.exclude) and any(_matches(self.relative(path), p) for p in self.exclude)

    def for_path(self, path: Path) -> LintConfig:
        """The settings for ``path``: this configuration, whatever the path."""
        return self

    def ignored_for(self, path: Path) -> tuple[str, ...]:
        """Selectors that ``per-file-ignores`` disables for this file."""
        relative = self.relative(path)
        found: list[str] = []
        for pattern, selectors in self.per_file_ignores.items():
            if _matches(relative, pattern):
                found.extend(selectors)
        return tuple(found)


def _matches(relative: str, pattern: str) -> bool:
    pattern = pattern.strip().rstrip("/")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    if fnmatch.fnmatchcase(relative, pattern):
        return True
    parts = PurePosixPath(relative).parts
    if "/" not in pattern:
        return any(fnmatch.fnmatchcase(part, pattern) for part in parts)
    # a directory pattern matches everything below it
    return any(fnmatch.fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts)))


def load_config(pyproject: Path) -> LintConfig:
    """Read and validate the table of one pyproject.toml (missing table: defaults)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {pyproject}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{pyproject} is not valid TOML: {error}") from None
    table = data.get("tool", {}).get("resilient-dask", {}).get("lint")
    root = pyproject.parent.resolve()
    if table is None:
        return LintConfig(root=root, source=pyproject)
    where = f"{TABLE} in {pyproject}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table, got {table!r}")
    for key in table:
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (valid keys: {', '.join(KEYS)})")
    select = table.get("select")
    per_file: dict[str, tuple[str, ...]] = {}
    raw_per_file = table.get("per-file-ignores", {})
    if not isinstance(raw_per_file, dict):
        raise ConfigError(
            f"{where}: 'per-file-ignores' must be a table of glob = [codes], got {raw_per_file!r}"
        )
    for pattern, codes in raw_per_file.items():
        per_file[pattern] = _codes(f"per-file-ignores.{pattern!r}", codes, where)
    return LintConfig(
        select=None if select is None else _codes("select", select, where),
        ignore=_codes("ignore", table.get("ignore", []), where),
        exclude=_strings("exclude", table.get("exclude", []), where),
        per_file_ignores=per_file,
        root=root,
        source=pyproject,
    )


def _strings(key: str, value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key!r} must be a list of strings, got {value!r}")
    return tuple(value)


def _codes(key: str, value: Any, where: str) -> tuple[str, ...]:
    codes = _strings(key, value, where)
    for code in codes:
        if expand_selector(code) is None:
            raise ConfigError(
                f"{where}: {key!r} contains unknown rule code {code!r} "
                "(see `resilient-dask lint --explain RD001`; codes are RD001..)"
            )
    return codes


class NearestConfig:
    """For each path, the table of the nearest pyproject.toml at or above it.

    Files without one get the defaults. Each directory is looked up and each
    pyproject.toml read once; an invalid one raises :class:`ConfigError` when a
    path under it is first asked for.
    """

    def __init__(self) -> None:
        self._by_directory: dict[Path, LintConfig] = {}
        self._by_file: dict[Path, LintConfig] = {}

    def for_path(self, path: Path) -> LintConfig:
        """The settings that apply to ``path`` (a file or a directory)."""
        try:
            resolved = path.resolve()
        except OSError:
            return LintConfig()
        directory = resolved if resolved.is_dir() else resolved.parent
        return self._for_directory(directory)

    def _for_directory(self, directory: Path) -> LintConfig:
        cached = self._by_directory.get(directory)
        if cached is not None:
            return cached
        candidate = directory / "pyproject.toml"
        if _has_our_table(candidate):
            found = self._by_file.get(candidate)
            if found is None:
                found = self._by_file[candidate] = load_config(candidate)
        elif directory.parent != directory:
            found = self._for_directory(directory.parent)
        else:
            found = LintConfig()
        self._by_directory[directory] = found
        return found


ConfigSource = LintConfig | NearestConfig
"""What a run takes its settings from: one fixed table, or the nearest per file."""


def _has_our_table(candidate: Path) -> bool:
    if not candidate.is_file():
        return False
    try:
        return "resilient-dask" in candidate.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
