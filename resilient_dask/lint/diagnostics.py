"""The records a lint run produces: findings in code, and problems with inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]
"""``error``: the code loses data, returns wrong results or can hang.
``warning``: the code works but is slow or wasteful; advice."""
SEVERITY_ORDER: tuple[Severity, ...] = ("warning", "error")
"""Severities from the least to the most severe."""


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding: rule ``code`` fired at ``path:line:col`` (both 1-based).

    In a notebook, ``cell`` is the 1-based number of the code cell and ``line``
    counts from the start of that cell; ``cell`` is None in a ``.py`` file.
    """

    path: str
    line: int
    col: int
    code: str
    name: str
    severity: Severity
    message: str
    fix: str
    cell: int | None = None

    @property
    def where(self) -> str:
        """``path:line:col``, or ``path:cell N, line M, col C`` in a notebook."""
        if self.cell is None:
            return f"{self.path}:{self.line}:{self.col}"
        return f"{self.path}:cell {self.cell}, line {self.line}, col {self.col}"

    def as_dict(self) -> dict[str, str | int]:
        """The JSON shape of this finding (the keys are stable; ``cell`` only in notebooks)."""
        found = asdict(self)
        if found.pop("cell") is not None:
            found["cell"] = self.cell
        return found


@dataclass(frozen=True, order=True)
class PathError:
    """A path that could not be checked, with a one-line reason.

    ``line``/``col`` are set (1-based) for syntax errors and 0 otherwise.
    """

    path: str
    message: str
    line: int = 0
    col: int = 0

    def render(self) -> str:
        """``path:line:col: error: message`` (line/col only when known)."""
        where = f"{self.path}:{self.line}:{self.col}" if self.line else self.path
        return f"{where}: error: {self.message}"


class SourceError(ValueError):
    """Raised by :func:`lint_source` when the source cannot be parsed or decoded."""

    def __init__(self, error: PathError) -> None:
        super().__init__(error.render())
        self.error = error
