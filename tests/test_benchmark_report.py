"""benchmarks/run.py's summary: the block it rewrites in docs/benchmarks.md, and its options."""

from __future__ import annotations

import argparse
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import run  # noqa: E402
import scale  # noqa: E402
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


def scale_result() -> scale.ScaleResult:
    return scale.ScaleResult(
        overhead=[scale.Paired(1_000, [1.0, 1.1], [1.05, 1.0]), scale.Paired(10_000, [9.0], [9.5])],
        replay=[
            scale.Replayed(1_000, [1.0], [1.1], [9.0]),
            scale.Replayed(10_000, [9.0], [9.9], [20.0]),
        ],
        memory=[scale.Memory("map", 1_000, 150.0, 170.0, 0.01)],
    )


def test_the_docs_page_has_the_scale_block() -> None:
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.count(run.SCALE_BEGIN) == text.count(run.SCALE_END) == 1


def test_a_block_of_its_own_is_replaced_with_the_lines_after_its_table(
    tmp_path: pathlib.Path,
) -> None:
    """The scale block has markers of its own; the summary block is left alone."""
    page = tmp_path / "benchmarks.md"
    page.write_text(f"{BEGIN}\nsummary\n{END}\n\n{run.SCALE_BEGIN}\nold\n{run.SCALE_END}\n")
    update_page(page, [ROW], "cmd", run.SCALE_BEGIN, run.SCALE_END, ["![plot](img/p.svg)"])
    text = page.read_text()
    assert f"{BEGIN}\nsummary\n{END}" in text and "old" not in text
    assert "| client overhead: x |" in text and "![plot](img/p.svg)\n\n" + run.SCALE_END in text


@pytest.mark.timeout(60)
def test_plots_rerun_into_the_same_bytes(tmp_path: pathlib.Path) -> None:
    """The SVGs carry no date and fixed ids: the same figures give the same file."""
    first = scale.plots(scale_result(), tmp_path / "one")
    scale.plots(scale_result(), tmp_path / "two")
    assert first == [
        "![Client overhead: ResilientClient / Client against the task count]"
        "(one/bench-scale-overhead.svg)",
        "![Replay after a scheduler restart / computing fresh, against the future count]"
        "(one/bench-scale-replay.svg)",
        "![Client memory per recorded recipe against the recipe count](one/bench-scale-memory.svg)",
    ]
    for name in ("bench-scale-overhead.svg", "bench-scale-replay.svg", "bench-scale-memory.svg"):
        svg = (tmp_path / "one" / name).read_bytes()
        assert svg == (tmp_path / "two" / name).read_bytes()
        assert b"<dc:date>" not in svg


def test_without_matplotlib_the_scale_tables_are_still_written(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No matplotlib: no plots, a message saying so and how to get it, the page all the same."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert scale.plots_or_why_not(scale_result(), tmp_path) == []
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())
    page = scale.render(scale_result(), "python benchmarks/scale.py", [])
    assert "| 10,000 | 1 | 9.00 | 9.90 | 9.00 / 9.90 | 1.100 | 20.00 |" in page
