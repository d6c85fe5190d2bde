"""Rule documentation rendered from the rule classes: ``--explain`` and docs/lint-rules.md.

Regenerate the page with ``python -m resilient_dask.lint.docs`` (``--check`` only
compares, exiting 1 if the committed page is stale).

On the page, each example carries a ``<!-- docs-test: ... -->`` marker (invisible when
rendered): tests/test_docs_examples.py lints a "Flagged" example and requires exactly
the rule's findings at the stated lines, and requires the "Not flagged" examples and
the fix sketches in the explanations to be clean. These snippets are not run: they
need the reader's cluster and data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resilient_dask.lint.rules import RULES, Rule

#: The docs-test marker of an example that must be clean for every rule.
CLEAN_MARKER = "<!-- docs-test: lint clean -->"

PAGE = Path(__file__).resolve().parents[2] / "docs" / "lint-rules.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _flagged_marker(rule: type[Rule], lines: tuple[int, ...]) -> str:
    return f"<!-- docs-test: lint flags {rule.code} at {', '.join(map(str, lines))} -->"


def _examples(rule: type[Rule], heading_level: str, *, markers: bool = False) -> list[str]:
    out: list[str] = []
    for title, examples in (("Flagged", rule.INVALID), ("Not flagged", rule.VALID)):
        out.append(f"{heading_level} {title}\n")
        for example in examples:
            where = ""
            if example.lines:
                where = (
                    "Line"
                    + ("s " if len(example.lines) > 1 else " ")
                    + ", ".join(str(n) for n in example.lines)
                    + ":\n\n"
                )
            marker = ""
            if markers:
                marker = (
                    _flagged_marker(rule, example.lines) if example.lines else CLEAN_MARKER
                ) + "\n"
            out.append(f"{where}{marker}```python\n{example.source.rstrip()}\n```\n")
    return out


def _test_code_note(rule: type[Rule]) -> list[str]:
    """Whether the rule runs in test modules, and why not."""
    if rule.severity == "warning":
        return ["Not reported in test modules: tests compute one case at a time on purpose.\n"]
    if rule.not_in_tests is not None:
        return [f"Not reported in test modules: {rule.not_in_tests}\n"]
    return []


def explain(rule: type[Rule]) -> str:
    """The ``--explain`` text of one rule (Markdown, readable as plain text)."""
    parts = [
        f"{rule.code} {rule.name} ({rule.severity})\n",
        f"{rule.summary}\n",
        rule.explanation.rstrip() + "\n",
        f"Fix: {rule.fix}\n",
        *_test_code_note(rule),
        *_examples(rule, "##"),
        f'Disable with `# noqa: {rule.code}` on the line, or `ignore = ["{rule.code}"]` in '
        "[tool.resilient-dask.lint].\n",
    ]
    return "\n".join(parts)


def render_rules_page() -> str:
    """The whole docs/lint-rules.md page."""
    parts = [
        "# `resilient-dask lint` rules\n",
        "<!-- Generated from the rule classes in resilient_dask/lint/rules/ by "
        "`python -m resilient_dask.lint.docs`. Do not edit by hand. -->\n",
        "See [lint.md](lint.md) for how to run the linter and configure it. Severity "
        "`error` means the code loses data, returns wrong results or can hang; `warning` "
        "means it works but is slow or wasteful.\n",
        "| Code | Name | Severity | Finds |\n| --- | --- | --- | --- |",
    ]
    parts.append(
        "\n".join(
            f"| [{r.code}](#{r.code.lower()}-{r.name}) | `{r.name}` | {r.severity} | "
            f"{_cell(r.summary)} |"
            for r in RULES
        )
        + "\n"
    )
    for rule in RULES:
        parts.extend(
            [
                f"## {rule.code} {rule.name}\n",
                f"**Severity:** {rule.severity}. {rule.summary}\n",
                f"Message: `{rule.message}`\n",
                rule.explanation.rstrip().replace("```python\n", f"{CLEAN_MARKER}\n```python\n")
                + "\n",
                f"**Fix:** {rule.fix}\n",
                *_test_code_note(rule),
                *_examples(rule, "###", markers=True),
            ]
        )
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the rules page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("output", nargs="?", type=Path, default=PAGE)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    page = render_rules_page()
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != page:
            print(f"{output} is stale: run python -m resilient_dask.lint.docs", file=sys.stderr)
            return 1
        return 0
    output.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
