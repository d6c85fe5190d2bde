"""RD004 compute-in-delayed: a delayed function computes or persists a collection."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT
from resilient_dask.lint.rules.base import Finding, Rule, called_text, example
from resilient_dask.lint.scopes import Scope


class ComputeInDelayed(Rule):
    code = "RD004"
    name = "compute-in-delayed"
    severity = "warning"
    triggers = ("delayed", "get_client", "get_worker", "worker_client", "secede")
    summary = (
        "A dask.delayed function, or a function that runs on a worker (it calls get_client(), "
        "get_worker(), worker_client() or secede()), calls .compute()/.persist() or "
        "dask.compute()/dask.persist()."
    )
    message = (
        "{what} '{task}' calls {call}: it runs a whole new graph from inside a task, "
        "one task at a time"
    )
    fix = "build the graph outside and pass the lazy values in as arguments (Dask computes them)"
    explanation = """\
Calling `.compute()` (or `.persist()`, `dask.compute()`) inside a `dask.delayed`
function, or inside a function that runs on a worker because it calls `get_client()`,
`get_worker()`, `worker_client()` or `secede()`, starts a second, nested computation from
inside a running task. On a distributed cluster this is *supported* (the task secedes from
its thread while it waits), so it is advice, not an error; but the inner graph is
invisible to the outer one, cannot be optimised or shared with it, and is re-run every
time the outer task runs. With the local threaded scheduler it can oversubscribe threads.

Pass the lazy values into the delayed function instead: Dask computes them first and
hands the function concrete results.

```python
@dask.delayed
def summarise(total, count):      # receives numbers
    return total / count

result = summarise(df.x.sum(), df.x.count())   # one graph
```

Not flagged: a call that names its `scheduler=` (`dask.compute(parts,
scheduler="threading")`): the author chose where the inner graph runs, typically a local
thread pool inside one task to read many small files at once.
"""
    VALID = (
        example("""
            import dask

            @dask.delayed
            def gather_statistics(fragments):
                @dask.delayed
                def collect(fragment):
                    return fragment.metadata

                return dask.compute([collect(f) for f in fragments], scheduler="threading")[0]
        """),
        example("""
            import dask

            @dask.delayed
            def summarise(total, count):
                return total / count

            result = summarise(df.x.sum(), df.x.count()).compute()
        """),
        example("""
            from dask import delayed, compute

            def load(path):
                return read(path)

            parts = [delayed(load)(p) for p in paths]
            results = compute(*parts)
        """),
        example("""
            from dask.distributed import get_client

            def start(x):
                client = get_client()
                return client.compute(x)

            def normal(ddf):
                return ddf.sum().compute()

            total = start(lazy_total).result()
        """),
    )
    INVALID = (
        example(
            """
            from dask.distributed import get_client

            def summarise(path):
                client = get_client()
                frame = client.submit(load, path).result()
                return frame.groupby("k").sum().compute()
        """,
            6,
        ),
        example(
            """
            import dask

            @dask.delayed
            def summarise(df):
                return df.x.sum().compute() / len(df)
        """,
            5,
        ),
        example(
            """
            import dask
            from dask import delayed

            def step(arr):
                arr = arr.persist()
                return dask.compute(arr.sum(), arr.mean())

            out = delayed(step)(x)
        """,
            5,
            6,
        ),
        example(
            """
            from dask import delayed as later

            @later(pure=True)
            def f(bag):
                counts = bag.frequencies().compute()
                return dict(counts)
        """,
            5,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for scope, how in analysis.tasks():
            if not how & {"delayed", "worker"}:
                continue
            what = "delayed function" if "delayed" in how else "task"
            args = {"task": scope.name, "what": what}
            for site in analysis.body_calls(scope):
                if nested_compute(analysis, site.node, site.scope) and not _chooses_scheduler(
                    site.node
                ):
                    yield Finding(site.node, {**args, "call": called_text(site.node)})


def nested_compute(analysis: Analysis, call: ast.Call, scope: Scope) -> bool:
    """``dask.compute(...)``/``dask.persist(...)`` or ``x.compute()``/``x.persist()``
    (not a client's, which runs on the cluster)."""
    if analysis.is_call_to(call, scope, "dask.compute", "dask.persist"):
        return True
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("compute", "persist"):
        return not call.args and CLIENT not in analysis.kinds(func.value, scope)
    return False


def _chooses_scheduler(call: ast.Call) -> bool:
    """``scheduler=`` given: the author chose where the inner graph runs (a local thread
    pool inside the task, say, to read many files at once), on purpose."""
    return any(keyword.arg == "scheduler" for keyword in call.keywords)
