"""Every rule's own VALID/INVALID examples, and the rules' metadata."""

from __future__ import annotations

import re
import sys

import pytest

from resilient_dask.lint import RULES, lint_source
from resilient_dask.lint.rules import Rule, expand_selector, find_rule
from resilient_dask.lint.rules.base import Example

INVALID = [
    pytest.param(rule, example, id=f"{rule.code}-invalid-{index}")
    for rule in RULES
    for index, example in enumerate(rule.INVALID)
]
VALID = [
    pytest.param(rule, example, id=f"{rule.code}-valid-{index}")
    for rule in RULES
    for index, example in enumerate(rule.VALID)
]


@pytest.mark.parametrize(("rule", "example"), INVALID)
def test_invalid_example_fires_at_expected_lines(rule: type[Rule], example: Example) -> None:
    """An INVALID example yields this rule's findings at exactly the stated lines."""
    found = lint_source(example.source, select=[rule.code])
    assert [d.line for d in found] == list(example.lines)


@pytest.mark.parametrize(("rule", "example"), VALID)
def test_valid_example_is_clean_for_every_rule(rule: type[Rule], example: Example) -> None:
    """A VALID example yields no finding from any rule."""
    assert lint_source(example.source) == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_has_enough_examples(rule: type[Rule]) -> None:
    """Each rule documents at least three INVALID and three VALID examples."""
    assert len(rule.INVALID) >= 3
    assert len(rule.VALID) >= 3
    assert all(example.lines for example in rule.INVALID)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_metadata_is_complete(rule: type[Rule]) -> None:
    """Code, kebab-case name, severity, texts and its own module are all present."""
    assert re.fullmatch(r"RD\d{3}", rule.code)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.name)
    assert rule.severity in ("error", "warning")
    assert rule.summary and rule.message and rule.fix and "```python" in rule.explanation
    module = sys.modules[rule.__module__].__name__.rsplit(".", 1)[-1]
    assert module.startswith(rule.code.lower() + "_")
    assert module == f"{rule.code.lower()}_{rule.name.replace('-', '_')}"


def test_codes_and_names_are_unique_and_sorted() -> None:
    """No two rules share a code or a name, and RULES is in code order."""
    codes = [r.code for r in RULES]
    assert codes == sorted(set(codes))
    assert len({r.name for r in RULES}) == len(RULES)


def test_selectors_accept_codes_prefixes_names_and_all() -> None:
    """A selector may be a code (any case), a prefix, a rule name or ALL."""
    assert expand_selector("rd001") == ["RD001"]
    assert expand_selector("returned-future") == ["RD001"]
    assert expand_selector("RD00") == [f"RD00{i}" for i in range(1, 10)]
    assert expand_selector("ALL") == [r.code for r in RULES]
    assert expand_selector("RD999") is None
    assert find_rule("nope") is None


def test_finding_reports_line_and_column_of_the_statement() -> None:
    """A finding points at the offending statement's line and 1-based column."""
    found = lint_source(RULES[0].INVALID[0].source)
    assert [(d.code, d.line, d.col) for d in found] == [("RD001", 6, 5)]
