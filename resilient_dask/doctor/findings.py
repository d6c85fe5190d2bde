"""What a doctor check reports: a finding with a severity, a message and a fix.

Only ``problem`` findings fail the command (exit status 1): ``advice`` names a
setting worth a look that is sometimes right on purpose (resubmit off, a long
worker-ttl), so it must not break a CI job that runs the doctor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Literal

__all__ = [
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_UNUSABLE",
    "SEVERITIES",
    "Finding",
    "Severity",
    "exit_code",
]

Severity = Literal["ok", "advice", "problem"]
SEVERITIES: tuple[Severity, ...] = ("ok", "advice", "problem")

#: No problem found (advice may have been given).
EXIT_OK = 0
#: At least one problem found.
EXIT_PROBLEMS = 1
#: Usage error, or the scheduler could not be reached (nothing was checked).
EXIT_UNUSABLE = 2


@dataclasses.dataclass(frozen=True)
class Finding:
    """One result of one check; every advice and problem carries its fix."""

    check: str
    severity: Severity
    message: str
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if self.severity != "ok" and not self.fix:
            raise ValueError(f"a {self.severity} finding needs a fix: {self.message!r}")


def ok(check: str, message: str) -> Finding:
    return Finding(check, "ok", message)


def advice(check: str, message: str, fix: str) -> Finding:
    return Finding(check, "advice", message, fix)


def problem(check: str, message: str, fix: str) -> Finding:
    return Finding(check, "problem", message, fix)


def exit_code(findings: Iterable[Finding]) -> int:
    """1 if any finding is a problem, else 0."""
    return EXIT_PROBLEMS if any(f.severity == "problem" for f in findings) else EXIT_OK
