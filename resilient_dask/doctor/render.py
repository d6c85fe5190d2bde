"""Rendering the doctor's findings: aligned text for people, JSON for tools."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from collections.abc import Sequence
from typing import Any

from resilient_dask.doctor.facts import Facts
from resilient_dask.doctor.findings import SEVERITIES, Finding, exit_code

__all__ = ["FORMATS", "render_json", "render_text", "render_unreachable_json", "summary"]

FORMATS = ("text", "json")
WIDTH = 100
_LABELS = {"ok": "ok", "advice": "advice", "problem": "PROBLEM"}
_CHECK_WIDTH = 19
_INDENT = " " * (8 + 1 + _CHECK_WIDTH + 1)


def summary(findings: Sequence[Finding]) -> str:
    """``"1 problem, 2 advice, 9 ok: exit status 1 ..."``."""
    counts = {severity: sum(f.severity == severity for f in findings) for severity in SEVERITIES}
    problems = counts["problem"]
    code = exit_code(findings)
    return (
        f"{problems} problem{'s' if problems != 1 else ''}, {counts['advice']} advice, "
        f"{counts['ok']} ok: exit status {code} "
        "(only problems fail; advice leaves the exit status alone)."
    )


def _wrap(text: str, first: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=_INDENT,
        break_on_hyphens=False,
        break_long_words=False,
    )


def render_text(facts: Facts, findings: Sequence[Finding]) -> str:
    """One block per finding (severity, check, message, fix), then the summary line."""
    lines = [f"resilient-dask doctor {facts.address}", ""]
    for finding in findings:
        head = f"{_LABELS[finding.severity]:<8} {finding.check:<{_CHECK_WIDTH}} "
        lines.extend(_wrap(finding.message, head))
        if finding.fix:
            lines.extend(_wrap(f"fix: {finding.fix}", _INDENT))
    lines += ["", summary(findings)]
    return "\n".join(lines) + "\n"


def render_json(facts: Facts, findings: Sequence[Finding]) -> str:
    """``{"address", "exit_code", "summary", "findings", "facts"}`` as indented JSON."""
    document: dict[str, Any] = {
        "address": facts.address,
        "exit_code": exit_code(findings),
        "summary": {s: sum(f.severity == s for f in findings) for s in SEVERITIES},
        "findings": [dataclasses.asdict(f) for f in findings],
        "facts": dataclasses.asdict(facts),
    }
    return json.dumps(document, indent=2, default=str) + "\n"


def render_unreachable_json(address: str, message: str, code: int) -> str:
    """The JSON document for a scheduler that could not be checked at all."""
    return json.dumps({"address": address, "exit_code": code, "error": message}, indent=2) + "\n"
