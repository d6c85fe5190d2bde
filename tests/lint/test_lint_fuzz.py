"""Property-based: random and mutated Python never crashes the linter."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilient_dask.lint import RULES, SourceError, lint_source

SEEDS = [example.source for rule in RULES for example in (*rule.INVALID, *rule.VALID)]
TOKENS = [
    "def ", "task", "(", ")", ":", "\n", "    ", "return ", "client", ".submit", ".map",
    ".scatter", ".result()", "get_client()", "with ", "worker_client()", " as c", "delayed",
    "@dask.delayed\n", "for x in xs", "[", "]", "{", "}", ",", "=", "lambda: ", "await ",
    "async ", "yield ", "*", "**", "x", "fut", ".compute()", "partial(", "import dask\n",
    "from dask import delayed as d\n", "global fut\n", "nonlocal fut\n", "if x:", "else:",
    "while True:", "break\n", "match x:\n    case [a, *b]:\n        pass\n", "'str'", "1e9",
]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(source: str) -> None:
    try:
        found = lint_source(source)
    except SourceError:
        return  # unparsable input is a reported, expected outcome
    assert all(d.line >= 1 and d.col >= 1 and d.code.startswith("RD") for d in found)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_token_soup_never_crashes(source: str) -> None:
    """Random sequences of Dask-flavoured tokens either lint or raise SourceError."""
    check(source)


@FUZZ
@given(st.sampled_from(SEEDS), st.randoms(use_true_random=False), st.integers(1, 8))
def test_mutated_examples_never_crash(seed: str, rng: random.Random, edits: int) -> None:
    """Rule examples with lines deleted, duplicated, swapped or re-indented never crash."""
    lines = seed.splitlines()
    for _ in range(edits):
        if not lines:
            break
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        operation = rng.randrange(4)
        if operation == 0:
            del lines[i]
        elif operation == 1:
            lines.insert(j, lines[i])
        elif operation == 2:
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = "    " + lines[i]
    check("\n".join(lines) + "\n")


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(source: str) -> None:
    """Any unicode text either lints or raises SourceError."""
    check(source)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Any bytes either lint or raise SourceError (decode or parse failure)."""
    check_bytes(data)


def check_bytes(data: bytes) -> None:
    try:
        lint_source(data)
    except SourceError:
        return
