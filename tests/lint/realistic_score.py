"""Precision and recall of the linter on tests/lint/realistic/, labelled real-world code.

Each file there is a short snippet from a public source (named in its first comment
lines). A ``# expect: RDnnn`` marker on a line labels a misuse the linter should
report there; a file without markers is code that is fine as written. The labels
were written from the source's own verdict (a documentation page's "Don't" column,
an issue's reproducer, a warning in the docs), not from the linter's output.

    .venv/bin/python tests/lint/realistic_score.py          # the table and the totals

A finding matches a label when both line and code agree. Each file is linted under its
bare name (so the folder ``tests/`` does not make it test code; see testcode.py).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from resilient_dask.lint import lint_source

REALISTIC = Path(__file__).parent / "realistic"
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>RD\d{3}(?:\s*,\s*RD\d{3})*)")


@dataclass(frozen=True)
class FileScore:
    """Labelled and found ``(line, code)`` pairs of one file."""

    name: str
    expected: frozenset[tuple[int, str]]
    found: frozenset[tuple[int, str]]

    @property
    def true_positives(self) -> int:
        return len(self.expected & self.found)

    @property
    def false_positives(self) -> frozenset[tuple[int, str]]:
        return self.found - self.expected

    @property
    def missed(self) -> frozenset[tuple[int, str]]:
        return self.expected - self.found


def labels(source: str) -> frozenset[tuple[int, str]]:
    """``(line, code)`` pairs from ``# expect: RDnnn`` markers."""
    pairs = set()
    for number, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            pairs.update((number, c.strip()) for c in match.group("codes").split(","))
    return frozenset(pairs)


def score_file(path: Path) -> FileScore:
    """Lint one snippet and compare with its labels."""
    source = path.read_text(encoding="utf-8")
    found = frozenset((d.line, d.code) for d in lint_source(source, path.name))
    return FileScore(path.name, labels(source), found)


def score_all(folder: Path = REALISTIC) -> list[FileScore]:
    """Every snippet of the collection, in name order."""
    return [score_file(path) for path in sorted(folder.glob("*.py"))]


def totals(scores: list[FileScore]) -> tuple[int, int, int, float, float]:
    """True positives, false positives, misses, precision and recall."""
    tp = sum(s.true_positives for s in scores)
    fp = sum(len(s.false_positives) for s in scores)
    fn = sum(len(s.missed) for s in scores)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return tp, fp, fn, precision, recall


def main() -> int:
    scores = score_all()
    for s in scores:
        status = "ok" if not s.false_positives and not s.missed else "MISMATCH"
        extra = ""
        if s.missed:
            extra += f" missed {sorted(s.missed)}"
        if s.false_positives:
            extra += f" unexpected {sorted(s.false_positives)}"
        print(f"{s.name:48} labels {len(s.expected):2} found {len(s.found):2} {status}{extra}")
    tp, fp, fn, precision, recall = totals(scores)
    clean = sum(1 for s in scores if not s.expected)
    print(
        f"\n{len(scores)} files ({clean} clean), {tp + fn} labelled misuses: "
        f"{tp} found, {fn} missed, {fp} false positives; "
        f"precision {precision:.2f}, recall {recall:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
