"""The shape every lint rule has: one class, its own data, one ``check`` method."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from resilient_dask.lint.diagnostics import Severity

if TYPE_CHECKING:
    from resilient_dask.lint.analysis import Analysis


@dataclass(frozen=True)
class Example:
    """A code snippet for a rule; ``lines`` are where the rule must fire (1-based)."""

    source: str
    lines: tuple[int, ...] = ()


def example(source: str, *lines: int) -> Example:
    """An example whose source is dedented and stripped of its leading newline."""
    return Example(textwrap.dedent(source).lstrip("\n"), tuple(lines))


def called_text(call: ast.Call, limit: int = 40) -> str:
    """What the code called, as written: ``dask.compute()``, ``df.x.sum().compute()``.

    Long receivers are shortened from the left (``....compute()``), so the
    method that was called always shows.
    """
    func = ast.unparse(call.func)
    if len(func) > limit:
        func = "..." + func[-(limit - 3) :]
    return f"{func}()"


@dataclass(frozen=True)
class Finding:
    """Where a rule fired (an AST node) and the values for its message template."""

    node: ast.AST
    args: dict[str, str] = field(default_factory=dict)


class Rule:
    """Base class of all rules. Subclasses set every class attribute below."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    """One line: what the rule finds."""
    message: ClassVar[str]
    """Template for the diagnostic, formatted with :attr:`Finding.args`."""
    triggers: ClassVar[tuple[str, ...]] = ()
    """Words one of which the source must contain for the rule to possibly fire
    (a fast pre-check: every alias of a Dask name still spells them)."""
    fix: ClassVar[str]
    """One line: what to write instead."""
    explanation: ClassVar[str]
    """Markdown: why it is wrong and the correct alternative, with code."""
    not_in_tests: ClassVar[str | None] = None
    """Why an error rule is not run in test modules (None: it is; warnings never are,
    see :mod:`resilient_dask.lint.testcode`)."""
    VALID: ClassVar[tuple[Example, ...]]
    INVALID: ClassVar[tuple[Example, ...]]

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        """Yield one :class:`Finding` per offending call or statement."""
        raise NotImplementedError

    @classmethod
    def render_message(cls, args: dict[str, str]) -> str:
        """The message template filled in; missing values never raise."""
        try:
            return cls.message.format(**args)
        except (KeyError, IndexError, ValueError):
            return cls.message
