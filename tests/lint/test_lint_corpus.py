"""Realistic modules: clean ones yield nothing, the others exactly their marked findings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from resilient_dask.lint import lint_source

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.py"))
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>RD\d{3}(?:\s*,\s*RD\d{3})*)")


def expected(source: str) -> list[tuple[int, str]]:
    """``(line, code)`` pairs from ``# expect: RDnnn`` markers."""
    pairs = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            pairs.extend((number, c.strip()) for c in match.group("codes").split(","))
    return sorted(pairs)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_corpus_file_has_exactly_its_marked_findings(path: Path) -> None:
    """Each corpus module yields exactly the findings its markers list (none if clean)."""
    source = path.read_text(encoding="utf-8")
    # the name alone: under tests/ every module would count as test code (testcode.py)
    found = sorted((d.line, d.code) for d in lint_source(source, path.name))
    assert found == expected(source)


def test_corpus_covers_clean_and_faulty_modules() -> None:
    """The corpus has several clean modules and marked findings for most rules."""
    sources = [p.read_text(encoding="utf-8") for p in FILES]
    clean = [s for s in sources if not expected(s)]
    codes = {code for s in sources for _, code in expected(s)}
    assert len(clean) >= 5
    assert len(codes) >= 12
