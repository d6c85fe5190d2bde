"""Documentation snippets that elide arguments with ``...`` are not judged."""

from __future__ import annotations

from resilient_dask.lint import lint_source

SNIPPET = """\
from dask.distributed import Client
import dask

client = Client(...)
futures = []
for i in range(10):
    futures.append(client.submit(train, ...))
lazy = dask.delayed(load(...))
big = client.scatter(...)
for p in params:
    client.submit(fit, big, ...)
x = dask.delayed(f, ...)
"""
"""Without the ``...`` this would give RD011 (line 7), RD005 (8) and RD014 (12)."""


def test_calls_with_placeholder_arguments_have_no_findings() -> None:
    """A call with ``...`` among its arguments yields no finding."""
    assert lint_source(SNIPPET) == []


def test_the_same_calls_with_real_arguments_are_flagged() -> None:
    """With the placeholders filled in, the same snippet is flagged where expected."""
    filled = SNIPPET.replace("train, ...", "train, 1").replace("load(...)", "load(path)")
    filled = filled.replace("f, ...", "f, 1").replace("Client(...)", "Client()")
    assert [(d.line, d.code) for d in lint_source(filled)] == [
        (7, "RD011"), (8, "RD005"), (12, "RD014")]
