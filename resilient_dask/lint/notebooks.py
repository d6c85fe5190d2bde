"""Jupyter notebooks (``.ipynb``): their code cells as one module, and positions back.

A notebook runs its cells top to bottom in one namespace, so the code cells are
joined into one module and checked as such: a function defined in cell 2 and
submitted in cell 5 is known. Every line keeps its text and its place, so
``# noqa`` comments and columns work as in a ``.py`` file. IPython syntax that is
not Python (``%magic``, ``!shell``, ``obj?``) becomes ``pass``; a cell that starts
with a cell magic is checked when the magic runs Python (``%%time``, ``%%timeit``,
``%%capture``...) and left out otherwise (``%%bash``, ``%%sql``...).
Nothing is imported: the file is read as JSON.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, replace

from resilient_dask.lint.diagnostics import Diagnostic, PathError, SourceError

NOTEBOOK_SUFFIX = ".ipynb"
_IPYTHON_LINE = re.compile(
    r"^(?P<indent>\s*)(?:[%!]|\?\??\w|\w[\w.]*\?\??\s*$|[\w, ]+=\s*[%!])"
)
"""``%magic``, ``!shell``, ``?obj``, ``obj?``, ``files = !ls``, ``t = %timeit f()``."""


@dataclass(frozen=True)
class NotebookSource:
    """The code cells of a notebook as one module, and where each cell starts in it."""

    source: str
    starts: tuple[int, ...]
    """1-based module line at which each kept cell starts."""
    numbers: tuple[int, ...]
    """The 1-based number, among the notebook's code cells, of each kept cell."""
    indents: tuple[int, ...] = ()
    """How many characters of leading indentation IPython removes from each kept cell."""

    def _index(self, line: int) -> int:
        return max(0, bisect.bisect_right(self.starts, line) - 1)

    def position(self, line: int) -> tuple[int, int]:
        """``(cell number, line in that cell)`` of a 1-based module line."""
        index = self._index(line)
        return self.numbers[index], line - self.starts[index] + 1

    def locate(self, diagnostic: Diagnostic) -> Diagnostic:
        """The diagnostic with its line relative to its cell, and the cell number set."""
        cell, line = self.position(diagnostic.line)
        indent = self.indents[self._index(diagnostic.line)] if self.indents else 0
        return replace(diagnostic, line=line, cell=cell, col=diagnostic.col + indent)

    def locate_error(self, error: PathError) -> PathError:
        """A syntax error's position as ``cell N, line M`` in its message."""
        if not error.line:
            return error
        cell, line = self.position(error.line)
        message = error.message.replace("; file not checked", "")
        return PathError(
            error.path, f"{message} in cell {cell}, line {line}, col {error.col}; not checked"
        )


def is_notebook(path: str) -> bool:
    """Whether ``path`` names a Jupyter notebook."""
    return path.endswith(NOTEBOOK_SUFFIX)


def notebook_source(data: bytes, path: str) -> NotebookSource:
    """The code cells of a notebook file; SourceError if it is not a notebook."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SourceError(
            PathError(path, f"not a Jupyter notebook (invalid JSON: {error}); not checked")
        ) from None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise SourceError(
            PathError(path, "not a Jupyter notebook (no 'cells' list, nbformat 4); not checked")
        )
    lines: list[str] = []
    starts: list[int] = []
    numbers: list[int] = []
    indents: list[int] = []
    number = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        number += 1
        cell_lines = _cell_text(cell.get("source", "")).split("\n")
        magic = _cell_magic(cell_lines)
        if magic is not None and magic not in PYTHON_CELL_MAGICS:
            continue  # %%bash, %%sql, %%html...: the body is not Python
        indent, cell_lines = _without_leading_indent(cell_lines)
        starts.append(len(lines) + 1)
        numbers.append(number)
        indents.append(indent)
        lines.extend(_python_line(line) for line in cell_lines)
    source = "\n".join(lines) + "\n"
    return NotebookSource(source, tuple(starts), tuple(numbers), tuple(indents))


def _without_leading_indent(cell_lines: list[str]) -> tuple[int, list[str]]:
    """IPython runs a cell whose first line is indented with that indentation removed
    from every line that starts with it (its ``leading_indent`` input transformer)."""
    first = cell_lines[0] if cell_lines else ""
    prefix = first[: len(first) - len(first.lstrip(" \t"))]
    if not prefix or not first.strip():
        return 0, cell_lines
    return len(prefix), [
        line[len(prefix) :] if line.startswith(prefix) else line for line in cell_lines
    ]


PYTHON_CELL_MAGICS = frozenset(
    {"time", "timeit", "capture", "prun", "memit", "px", "debug", "script_python"}
)
"""Cell magics whose body is Python (``%%time`` runs the cell): the body is checked."""


def _cell_magic(cell_lines: list[str]) -> str | None:
    """The name of the cell magic the cell starts with (``%%time`` -> ``time``)."""
    for line in cell_lines:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("%%"):
            return stripped[2:].split(maxsplit=1)[0] if stripped[2:].strip() else ""
        return None
    return None


def _cell_text(source: object) -> str:
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return str(source)


def _python_line(line: str) -> str:
    """The line, or ``pass`` at its indentation when it is IPython syntax."""
    match = _IPYTHON_LINE.match(line)
    if match is None:
        return line
    return match.group("indent") + "pass"
