"""benchmarks/run.py's summary: the block it rewrites in docs/benchmarks.md, and its options."""

from __future__ import annotations

import argparse
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import run  # noqa: E402
from _report import BEGIN, END, Row, update_page  # noqa: E402

pytestmark = pytest.mark.timeout(30)

ROW = Row("client overhead: x", "distributed.Client 1.000 s", "ResilientClient 0.990 s", "0.990", 5)


def test_update_replaces_only_the_generated_block(tmp_path: pathlib.Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Title\n\nintro\n\n{BEGIN}\nold figures\n{END}\n\n## Notes\nkept\n")
    update_page(page, [ROW], "python benchmarks/run.py")
    text = page.read_text()
    assert text.startswith("# Title\n\nintro\n\n" + BEGIN)
    assert text.endswith(END + "\n\n## Notes\nkept\n")
    assert "old figures" not in text
    assert "| client overhead: x | distributed.Client 1.000 s | ResilientClient 0.990 s |" in text
    assert "Measured with `python benchmarks/run.py`" in text


def test_update_refuses_a_page_without_markers(tmp_path: pathlib.Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Title\n")
    with pytest.raises(SystemExit, match="add the markers"):
        update_page(page, [ROW], "python benchmarks/run.py")
    assert page.read_text() == "# Title\n"


def test_the_docs_page_has_the_block() -> None:
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.count(BEGIN) == text.count(END) == 1


def test_unknown_benchmark_names_are_refused_with_the_choices() -> None:
    assert run.selection("hung, lint") == ["hung", "lint"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown benchmark soak; choose from"):
        run.selection("lint,soak")
