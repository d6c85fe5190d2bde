"""Compare the values the demo got with the values it expected, and choose the exit code.

Pure functions without I/O: the demo's verdict must be testable with a
deliberately wrong value, without starting a cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

#: Exit codes of ``resilient-dask demo`` (click itself exits 2 on usage errors).
EXIT_OK = 0
EXIT_WRONG = 1
EXIT_USAGE = 2


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One value that is wrong or missing."""

    name: str
    expected: Any
    got: Any
    missing: bool = False

    def __str__(self) -> str:
        if self.missing:
            return f"{self.name}: no value (expected {_short(self.expected)}); {self.got}"
        got = f"got {_short(self.got)}{_where(self)}"
        return f"{self.name}: expected {_short(self.expected)}, {got}"


def verify(
    expected: Mapping[str, Any], got: Mapping[str, Any], missing_reason: str = ""
) -> list[Mismatch]:
    """Every value of ``expected`` that ``got`` lacks or gets wrong, in ``expected``'s order.

    A value counts as right only when it is equal *and* of the same kind (a list
    where a list is expected), so that ``[1, 2]`` never passes for ``(1, 2)`` and
    ``True`` never passes for ``1``. Values ``got`` has but ``expected`` does not
    are wrong too: the demo must not report a value nobody checked.
    """
    mismatches = []
    for name, want in expected.items():
        if name not in got:
            reason = missing_reason or "the demo did not get this far"
            mismatches.append(Mismatch(name, want, reason, missing=True))
        elif not _same(want, got[name]):
            mismatches.append(Mismatch(name, want, got[name]))
    mismatches += [
        Mismatch(name, "nothing (not an expected value)", value)
        for name, value in got.items()
        if name not in expected
    ]
    return mismatches


def exit_code(mismatches: Sequence[Mismatch]) -> int:
    """0 when every value is right, 1 when any is wrong or missing."""
    return EXIT_WRONG if mismatches else EXIT_OK


def _same(want: Any, got: Any) -> bool:
    if type(want) is not type(got):
        return False
    if isinstance(want, (list, tuple)):
        return len(want) == len(got) and all(_same(w, g) for w, g in zip(want, got, strict=True))
    return bool(want == got)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _where(mismatch: Mismatch) -> str:
    """For lists, the first position that differs (a long list's repr hides it)."""
    want, got = mismatch.expected, mismatch.got
    if not (isinstance(want, list) and isinstance(got, list)):
        return ""
    if len(want) != len(got):
        return f" ({len(got)} items instead of {len(want)})"
    for index, (w, g) in enumerate(zip(want, got, strict=True)):
        if not _same(w, g):
            return f" (item {index}: expected {w!r}, got {g!r})"
    return ""  # pragma: no cover - only called for lists that differ
