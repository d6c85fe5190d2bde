"""Documentation generated from the rule classes."""

from __future__ import annotations

from pathlib import Path

from resilient_dask.lint import RULES
from resilient_dask.lint.docs import PAGE, explain, render_rules_page

ROOT = Path(__file__).resolve().parents[2]


def test_rules_page_is_up_to_date() -> None:
    """docs/lint-rules.md equals what the rule classes render (regenerate if not)."""
    assert PAGE == ROOT / "docs" / "lint-rules.md"
    committed = PAGE.read_text(encoding="utf-8")
    assert committed == render_rules_page(), "run: python -m resilient_dask.lint.docs"


def test_rules_page_has_a_section_per_rule() -> None:
    """Every rule has a heading, its severity and its examples on the page."""
    page = render_rules_page()
    for rule in RULES:
        assert f"## {rule.code} {rule.name}\n" in page
        assert rule.INVALID[0].source.rstrip() in page


def test_explain_includes_fix_and_examples() -> None:
    """``--explain`` text has the summary, fix and examples of the rule."""
    text = explain(RULES[0])
    assert RULES[0].summary in text and RULES[0].fix in text
    assert "## Flagged" in text and "## Not flagged" in text


def test_lint_guide_mentions_every_rule() -> None:
    """docs/lint.md's rule table lists every code."""
    guide = (ROOT / "docs" / "lint.md").read_text(encoding="utf-8")
    assert all(rule.code in guide for rule in RULES)
