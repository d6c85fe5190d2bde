"""Rendering diagnostics: text, json, sarif (2.1.0) and github (workflow commands)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import metadata

from resilient_dask.lint.diagnostics import Diagnostic, PathError
from resilient_dask.lint.rules import RULES, RULES_BY_CODE

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/resilient-dask/resilient-dask/blob/main/docs/lint-rules.md"


def tool_version() -> str:
    """The installed resilient-dask version (``0+unknown`` when running from a checkout)."""
    try:
        return metadata.version("resilient-dask")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def render_text(diagnostics: Sequence[Diagnostic], errors: Sequence[PathError]) -> str:
    """``path:line:col: RDnnn message`` (in a notebook ``path:cell N, line M, col C: ...``)."""
    return "".join(f"{d.where}: {d.code} {d.message}\n" for d in diagnostics)


def render_json(diagnostics: Sequence[Diagnostic], errors: Sequence[PathError]) -> str:
    """A JSON list of findings with code, name, severity, path, line, column, message, fix.

    Findings in a notebook also have ``cell`` (1-based, among code cells); their
    ``line`` counts from the start of that cell.
    """
    items = [
        {
            "code": d.code,
            "name": d.name,
            "severity": d.severity,
            "path": d.path,
            **({} if d.cell is None else {"cell": d.cell}),
            "line": d.line,
            "column": d.col,
            "message": d.message,
            "fix": d.fix,
        }
        for d in diagnostics
    ]
    return json.dumps(items, indent=2) + "\n"


def _rule_descriptor(code: str) -> dict[str, object]:
    rule = RULES_BY_CODE[code]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary + " Fix: " + rule.fix},
        "help": {"text": rule.explanation, "markdown": rule.explanation},
        "helpUri": f"{INFORMATION_URI}#{rule.code.lower()}-{rule.name}",
        "defaultConfiguration": {"level": rule.severity},
        "properties": {"tags": ["dask", "distributed"]},
    }


def _sarif_location(d: Diagnostic) -> dict[str, object]:
    """A physical location; in a notebook the region is within the cell, which a logical
    location (``cell N``) names."""
    location: dict[str, object] = {
        "physicalLocation": {
            "artifactLocation": {"uri": d.path.replace("\\", "/")},
            "region": {"startLine": d.line, "startColumn": d.col},
        }
    }
    if d.cell is not None:
        location["logicalLocations"] = [{"name": f"cell {d.cell}", "kind": "module"}]
    return location


def render_sarif(diagnostics: Sequence[Diagnostic], errors: Sequence[PathError]) -> str:
    """A SARIF 2.1.0 log with every rule's metadata and one result per finding."""
    codes = [rule.code for rule in RULES]
    results = [
        {
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code),
            "level": d.severity,
            "message": {"text": f"{d.message}. Fix: {d.fix}"},
            "locations": [_sarif_location(d)],
            **({} if d.cell is None else {"properties": {"cell": d.cell}}),
        }
        for d in diagnostics
    ]
    notifications = [
        {
            "level": "error",
            "message": {"text": e.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": e.path.replace("\\", "/")},
                        **({"region": {"startLine": e.line}} if e.line else {}),
                    }
                }
            ],
        }
        for e in errors
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "resilient-dask-lint",
                        "informationUri": INFORMATION_URI,
                        "version": tool_version(),
                        "rules": [_rule_descriptor(code) for code in codes],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not errors,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _cell_note(d: Diagnostic) -> str:
    return "" if d.cell is None else f" (cell {d.cell})"


def render_github(diagnostics: Sequence[Diagnostic], errors: Sequence[PathError]) -> str:
    """GitHub Actions workflow commands: ``::error file=...,line=...,col=...::message``."""
    lines = [
        f"::{d.severity} file={_escape_property(d.path)},line={d.line},col={d.col},"
        f"title={_escape_property(d.code + ' ' + d.name + _cell_note(d))}::"
        f"{_escape_data(d.code + ' ' + d.message)}"
        for d in diagnostics
    ]
    lines.extend(
        f"::error file={_escape_property(e.path)}"
        + (f",line={e.line}" if e.line else "")
        + f"::{_escape_data(e.message)}"
        for e in errors
    )
    return "".join(line + "\n" for line in lines)


RENDERERS: dict[str, Callable[[Sequence[Diagnostic], Sequence[PathError]], str]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
}


def render_statistics(diagnostics: Sequence[Diagnostic], output_format: str) -> str:
    """Counts per rule, most frequent first (text table, or JSON for other formats)."""
    counts = Counter(d.code for d in diagnostics)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if output_format != "text":
        rows = [{"code": c, "name": RULES_BY_CODE[c].name, "count": n} for c, n in ordered]
        return json.dumps(rows, indent=2) + "\n"
    width = max((len(str(n)) for _, n in ordered), default=1)
    return "".join(
        f"{n:>{width}}  {c}  {RULES_BY_CODE[c].name} [{RULES_BY_CODE[c].severity}]\n"
        for c, n in ordered
    )
