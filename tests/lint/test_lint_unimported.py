"""Snippets without their imports: well-known Dask names that the module never binds."""

from __future__ import annotations

from resilient_dask.lint import lint_source

SNIPPET = """\
results = []
for x in data:
    results.append(delayed(f(x)))

def task(x):
    fut = get_client().submit(inc, x)
    return fut

client.submit(task, 1)
"""


def test_unbound_dask_names_mean_dask() -> None:
    """``delayed`` and ``get_client`` used without an import are Dask's."""
    assert [(d.line, d.code) for d in lint_source(SNIPPET)] == [(3, "RD005"), (7, "RD001")]


def test_a_module_that_binds_the_name_keeps_its_own_meaning() -> None:
    """A local ``delayed`` and ``get_client`` are not taken for Dask's."""
    own = "def delayed(value):\n    return value\n\n" \
          "def get_client():\n    return Pool()\n\n" + SNIPPET
    assert lint_source(own) == []
