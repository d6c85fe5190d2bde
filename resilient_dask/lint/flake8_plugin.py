"""flake8 integration: ``flake8 --select RD`` runs these rules (entry point ``RD``).

flake8 handles ``# noqa`` and selection itself, so every finding is yielded.
Files the checker cannot analyse yield nothing (flake8 reports syntax errors).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from typing import ClassVar

from resilient_dask.lint.engine import check_tree
from resilient_dask.lint.formatters import tool_version
from resilient_dask.lint.rules import RULES


class Flake8Plugin:
    """A flake8 AST plugin; the arguments are the ones flake8 passes by name."""

    name: ClassVar[str] = "resilient-dask"
    version: ClassVar[str] = tool_version()

    def __init__(
        self, tree: ast.AST, filename: str = "<unknown>", lines: Sequence[str] | None = None
    ) -> None:
        self.tree = tree
        self.filename = filename
        self.lines = list(lines or [])

    def run(self) -> Iterator[tuple[int, int, str, type[Flake8Plugin]]]:
        """Yield ``(line, col, "RDnnn message", type)`` with a 0-based column."""
        if not isinstance(self.tree, ast.Module):
            return
        source = "".join(self.lines) if self.lines else _unparse(self.tree)
        try:
            found = check_tree(
                self.tree, source, self.filename, [r.code for r in RULES], noqa=False
            )
        except (RuntimeError, RecursionError):
            return
        for diagnostic in found:
            yield (
                diagnostic.line,
                diagnostic.col - 1,
                f"{diagnostic.code} {diagnostic.message}",
                type(self),
            )


def _unparse(tree: ast.Module) -> str:
    try:
        return ast.unparse(tree)
    except (ValueError, RecursionError):  # pragma: no cover - exotic trees
        return "dask"
