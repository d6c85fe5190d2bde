"""RD008 delayed-in-delayed: a delayed function builds more delayed calls inside itself."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import DELAYED_FN
from resilient_dask.lint.rules.base import Finding, Rule, example
from resilient_dask.lint.scopes import Scope


class DelayedInDelayed(Rule):
    code = "RD008"
    name = "delayed-in-delayed"
    severity = "warning"
    triggers = ("delayed",)
    summary = "A dask.delayed function calls delayed() or another delayed function inside itself."
    message = (
        "delayed function '{task}' {what}; inside a task that only builds a Delayed object, "
        "which is returned uncomputed or computed serially"
    )
    fix = "build the whole graph at the top level: call delayed functions outside, pass results in"
    explanation = """\
Inside a running task, `delayed(f)(x)` (or calling a function decorated with `@delayed`)
does not compute anything: it builds a new lazy `Delayed` object. The task then returns
that object uncomputed, or has to call `.compute()` on it, starting a separate small graph
from inside a task. Build the graph where you build the rest of it:

```python
@dask.delayed
def inc(x):
    return x + 1

@dask.delayed
def total(values):         # receives computed values
    return sum(values)

result = total([inc(x) for x in range(10)])   # graph built at the top level
```

Not flagged: a delayed function passed *as an argument* to another delayed function and
called there (`apply(inc, 1)` with both decorated). Dask computes every Delayed argument
before the call, so `apply` receives the plain function and calling it builds no graph.
Also not flagged: a delayed function that computes its inner graph through a client
(`worker_client().compute(...)`), the pattern distributed documents.
"""
    VALID = (
        example("""
            import dask

            @dask.delayed
            def inc(x):
                return x + 1

            @dask.delayed
            def apply(fn, x):
                return fn(x)

            out = apply(inc, 1)  # Dask computes inc first: apply gets the plain function
        """),
        example("""
            import dask

            def inc(x):
                return x + 1

            @dask.delayed
            def apply(fn, x):
                return fn(x)

            out = apply(inc, 1)
        """),
        example("""
            from dask import delayed
            from dask.distributed import worker_client

            @delayed
            def outer(n):
                with worker_client() as client:
                    inner = [delayed(inc)(i) for i in range(n)]
                    futures = client.compute(inner)
                    return sum(client.gather(futures))
        """),
        example("""
            import dask

            @dask.delayed
            def inc(x):
                return x + 1

            @dask.delayed
            def total(values):
                return sum(values)

            result = total([inc(x) for x in range(10)])
        """),
        example("""
            from dask import delayed

            def inc(x):
                return x + 1

            def build(xs):
                return [delayed(inc)(x) for x in xs]

            parts = build(range(5))
        """),
        example("""
            from dask import delayed

            def helper(x):
                return x * 2

            @delayed
            def process(x):
                return helper(x) + 1
        """),
    )
    INVALID = (
        example(
            """
            import dask

            @dask.delayed
            def inc(x):
                return x + 1

            @dask.delayed
            def total(xs):
                return sum(inc(x) for x in xs)
        """,
            9,
        ),
        example(
            """
            from dask import delayed

            def load(path):
                return open(path).read()

            @delayed
            def load_all(paths):
                return [delayed(load)(p) for p in paths]
        """,
            8,
        ),
        example(
            """
            import dask

            def square(x):
                return x * x

            def outer(xs):
                parts = [dask.delayed(square)(x) for x in xs]
                return dask.compute(*parts)

            result = dask.delayed(outer)(range(3))
        """,
            7,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for scope, how in analysis.tasks():
            if "delayed" not in how or _computes_through_a_client(analysis, scope):
                continue  # the documented worker_client().compute(inner graph) pattern
            for site in analysis.body_calls(scope):
                call = site.node
                if analysis.is_delayed_call(call, site.scope):
                    yield Finding(call, {"task": scope.name, "what": "calls delayed()"})
                elif not isinstance(call.func, ast.Call) and DELAYED_FN in analysis.kinds(
                    call.func, site.scope
                ):
                    name = call.func.id if isinstance(call.func, ast.Name) else "a delayed function"
                    yield Finding(
                        call, {"task": scope.name, "what": f"calls the delayed function '{name}'"}
                    )


def _computes_through_a_client(analysis: Analysis, function: Scope) -> bool:
    return any(
        analysis.client_method(site.node, site.scope) in ("compute", "persist")
        for site in analysis.body_calls(function)
    )

