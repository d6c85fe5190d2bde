"""RD004 compute-in-delayed: a delayed function computes or persists a collection."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT
from resilient_dask.lint.rules.base import Finding, Rule, called_text, example


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
"""
    VALID = (
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
                call, func = site.node, site.node.func
                if analysis.is_call_to(call, site.scope, "dask.compute", "dask.persist"):
                    yield Finding(call, {**args, "call": called_text(call)})
                elif isinstance(func, ast.Attribute) and func.attr in ("compute", "persist"):
                    if CLIENT in analysis.kinds(func.value, site.scope) or call.args:
                        continue
                    yield Finding(call, {**args, "call": called_text(call)})
