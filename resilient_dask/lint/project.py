"""Whole-project analysis: tasks defined in one module and submitted from another.

A run checks every file once (in parallel) and, besides the findings, each file
reports which *imported* functions it runs as tasks (``from .tasks import
process; client.map(process, ...)``). Those import paths are resolved against
the modules of the run; a module that defines such a function is checked a
second time, knowing it. Most files are checked once: only the modules that
define a function submitted elsewhere are checked again.

Module names come from the file system, as Python would import them: a file's
name, prefixed by every enclosing directory that has an ``__init__.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ModuleName:
    """The dotted name of a checked file, and whether it is a package's ``__init__``."""

    name: str
    is_package: bool = False

    def absolute(self, qualname: str) -> str:
        """``.tasks.process`` imported in this module, as an absolute import path."""
        level = len(qualname) - len(qualname.lstrip("."))
        if not level:
            return qualname
        parts = self.name.split(".") if self.name else []
        if not self.is_package:
            parts = parts[:-1]
        if level > 1:
            parts = parts[: len(parts) - (level - 1)]
        return ".".join([*parts, qualname[level:]])


class ModuleNames:
    """Names of files as Python would import them (``__init__.py`` lookups cached)."""

    def __init__(self) -> None:
        self._packages: dict[Path, str | None] = {}

    def of(self, path: Path) -> ModuleName:
        """The dotted module name of the file ``path``."""
        try:
            resolved = path.resolve()
        except OSError:
            return ModuleName(path.stem)
        package = self._package(resolved.parent)
        if resolved.name == "__init__.py":
            return ModuleName(package or "", is_package=True)
        stem = resolved.name.rsplit(".", 1)[0]
        return ModuleName(f"{package}.{stem}" if package else stem)

    def _package(self, directory: Path) -> str | None:
        """The package name of a directory, or None if it has no ``__init__.py``."""
        if directory in self._packages:
            return self._packages[directory]
        name: str | None = None
        if (directory / "__init__.py").is_file():
            parent = self._package(directory.parent) if directory.parent != directory else None
            name = f"{parent}.{directory.name}" if parent else directory.name
        self._packages[directory] = name
        return name


@dataclass
class ProjectTasks:
    """Functions that some module of the run submits as a task, by defining module."""

    by_module: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def add(self, module: ModuleName, submitted: Iterable[tuple[str, str]]) -> None:
        """Record ``(import path, how)`` pairs seen in ``module``."""
        for qualname, how in submitted:
            absolute = module.absolute(qualname)
            owner, _, function = absolute.rpartition(".")
            if owner and function:
                self.by_module.setdefault(owner, {}).setdefault(function, set()).add(how)

    def defined_in(self, module: ModuleName) -> Mapping[str, frozenset[str]]:
        """The functions of ``module`` that other modules submit (name -> how)."""
        found = self.by_module.get(module.name, {})
        return {name: frozenset(hows) for name, hows in found.items()}
