"""The summary every benchmark contributes to: one row per side-by-side comparison.

``benchmarks/run.py`` collects the rows of all benchmarks, prints them as one table
and rewrites the block between the markers in ``docs/benchmarks.md``; the text
around the block (what each figure means) is written by people and left alone.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import platform
import re
import sys
from collections.abc import Sequence

BEGIN = "<!-- benchmarks:summary:begin (written by benchmarks/run.py) -->"
END = "<!-- benchmarks:summary:end -->"


@dataclasses.dataclass(frozen=True)
class Row:
    """One comparison: the baseline and resilient_dask, measured in the same run."""

    comparison: str
    baseline: str  # e.g. "distributed.Client 2.225 s"
    ours: str  # e.g. "ResilientClient 2.164 s"
    ratio: str  # ours / baseline, or how much faster; says which
    runs: int


def machine() -> str:
    """Where the figures come from."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"CPython {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, 1-minute load {load:.2f} at the start"
    )


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| comparison | baseline | resilient_dask | ratio | runs (median) |",
        "| --- | --- | --- | --- | ---: |",
    ]
    lines += [f"| {r.comparison} | {r.baseline} | {r.ours} | {r.ratio} | {r.runs} |" for r in rows]
    return "\n".join(lines)


def summary_block(
    rows: list[Row], command: str, begin: str = BEGIN, end: str = END, after: Sequence[str] = ()
) -> str:
    """A generated block of docs/benchmarks.md, markers included: the rows as a table,
    then the lines ``after`` (plots, say)."""
    return "\n".join(
        [begin, "", f"Measured with `{command}` on {machine()}.", "", table(rows), "",
         *after, *([""] if after else []), end]
    )  # fmt: skip


def update_page(
    page: pathlib.Path, rows: list[Row], command: str, begin: str = BEGIN, end: str = END,
    after: Sequence[str] = (),
) -> None:  # fmt: skip
    """Replace the generated block of ``page`` between ``begin`` and ``end`` (the summary's
    markers unless told; the page must have both)."""
    text = page.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{page} has no {begin!r} ... {end!r} block to update; add the markers")
    block = summary_block(rows, command, begin, end, after)
    page.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")


def command_line(script: str, argv: list[str] | None) -> str:
    """How ``benchmarks/<script>`` was run (its arguments), for its page."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join([f"python benchmarks/{script}", *args])


def machine_and_command(command: str) -> list[str]:
    """The lines of a detail page that say where and how its figures were measured."""
    return [f"- Machine: {machine()}", "", "Command:", "", "```console", f"$ {command}", "```", ""]


def publish(text: str, path: str | None) -> None:
    """Print a detail page, and write it to ``path`` if given."""
    print(text)
    if path:
        pathlib.Path(path).write_text(text, encoding="utf-8")
