"""RD007 repeated-large-argument: one large object sent with every task of a loop."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint import loops
from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CARRIES_LARGE, CLIENT_WORDS, LARGE
from resilient_dask.lint.rules._taskcalls import task_call
from resilient_dask.lint.rules.base import Finding, Rule, example
from resilient_dask.lint.scopes import CallSite


class RepeatedLargeArgument(Rule):
    code = "RD007"
    name = "repeated-large-argument"
    severity = "warning"
    triggers = (*CLIENT_WORDS, "delayed")
    summary = (
        "The same large object is passed to submit/delayed on every iteration of a loop "
        "(directly, in a functools.partial, or as a bound method's object)."
    )
    message = (
        "the large object '{name}' {how} to every task {creator} creates: it is "
        "serialised and shipped (and hashed) once per task"
    )
    fix = (
        "send it once: {name}_f = client.scatter({name}) (or {name}_d = dask.delayed({name})) "
        "before the loop and pass that instead"
    )
    explanation = """\
Arguments of `client.submit` and of `delayed` calls are embedded in each task. An array,
DataFrame or model loaded or built before a loop and passed to every task is pickled,
hashed and sent once *per task*: the graph balloons, the scheduler warns about large
graphs, and workers receive many copies. The same happens when the object rides inside a
`functools.partial` or is the `self` of a bound method you submit.

Put it in the cluster once and pass the reference:

```python
weights = np.load("weights.npy")
weights_f = client.scatter(weights, broadcast=True)     # or dask.delayed(weights)
futures = [client.submit(score, batch, weights_f) for batch in batches]
```

"Large" is decided from the source alone: data loaded from files (`np.load`,
`pd.read_*`, `joblib.load`, `pickle.load`...) and arrays or byte strings whose literal size
is at least 1 MB. Objects of unknown size are not flagged.
"""
    VALID = (
        example("""
            import numpy as np
            from distributed import Client

            client = Client()
            table = np.load("lookup.npy")
            futures = client.map(score, chunks, table=table)
        """),
        example("""
            import numpy as np
            from dask.distributed import Client

            client = Client()
            weights = np.load("weights.npy")
            weights_f = client.scatter(weights, broadcast=True)
            futures = [client.submit(score, b, weights_f) for b in batches]
        """),
        example("""
            import numpy as np
            import dask

            small = np.zeros(100)
            lazy_big = dask.delayed(np.load("big.npy"))
            parts = [dask.delayed(score)(b, small, lazy_big) for b in batches]
        """),
        example("""
            import pandas as pd
            from dask.distributed import Client

            client = Client()
            for path in paths:
                df = pd.read_csv(path)
                client.submit(process, df)
        """),
    )
    INVALID = (
        example(
            """
            import numpy as np
            from dask.distributed import Client

            client = Client()
            weights = np.load("weights.npy")
            futures = [client.submit(score, b, weights) for b in batches]
        """,
            6,
        ),
        example(
            """
            import dask
            import numpy as np
            from functools import partial

            table = np.random.random((10_000, 1_000))
            lookup = partial(find, table=table)
            results = []
            for key in keys:
                results.append(dask.delayed(lookup)(key))
        """,
            9,
        ),
        example(
            """
            import joblib
            from dask.distributed import Client

            client = Client()
            model = joblib.load("model.pkl")
            futures = []
            for batch in batches:
                futures.append(client.submit(model.predict, batch))
        """,
            8,
        ),
        example(
            """
            import numpy as np
            from distributed import Client

            client = Client()
            table = np.load("lookup.npy")
            for batch in batches:
                futures = client.map(score, batch, table=table)
        """,
            7,
        ),
        example(
            """
            from functools import partial

            import numpy as np
            from distributed import Client

            class Model:
                def __init__(self):
                    self.weights = np.zeros((1000, 1000))

            client = Client()
            scorer = partial(score, model=Model())
            futures = client.map(scorer, batches)
        """,
            12,
        ),
        example(
            """
            from distributed import Client
            from sklearn.ensemble import RandomForestClassifier

            client = Client()
            model = RandomForestClassifier(n_estimators=500).fit(X, y)
            predictions = []
            for chunk in chunks:
                predictions.append(client.submit(model.predict, chunk))
        """,
            8,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            if not site.loops:
                found = _large_mapped_function(analysis, site)
                if found is not None:
                    yield Finding(site.node, {**found, "creator": "this map"})
                continue  # (one map(f, xs, table=big) ships big once: distributed#2281)
            found_in_loop = self._large(analysis, site)
            if found_in_loop is not None:
                name, how = found_in_loop
                yield Finding(site.node, {"name": name, "how": how, "creator": "this loop"})

    @staticmethod
    def _large(analysis: Analysis, site: CallSite) -> tuple[str, str] | None:
        task = task_call(analysis, site)
        if task is None:
            return None
        fresh = loops.assigned_names(site.loops[-1])
        scope = site.scope
        for arg in task.payload:
            if (
                isinstance(arg, ast.Name)
                and arg.id not in fresh
                and LARGE in analysis.kinds(arg, scope)
            ):
                return arg.id, "is passed"
        function = task.function
        if (
            isinstance(function, ast.Name)
            and function.id not in fresh
            and CARRIES_LARGE in analysis.kinds(function, scope)
        ):
            return function.id, "travels inside the partial/object submitted"
        if isinstance(function, ast.Call) and CARRIES_LARGE in analysis.kinds(function, scope):
            return ast.unparse(function)[:40], "travels inside the partial submitted"
        if (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and function.value.id not in fresh
            and analysis.kinds(function.value, scope) & {LARGE, CARRIES_LARGE}
        ):
            return function.value.id, f"is bound to the method .{function.attr} submitted"
        return None


def _large_mapped_function(analysis: Analysis, site: CallSite) -> dict[str, str] | None:
    """``client.map(partial(f, big), xs)``: the function, and what it holds, goes with
    every task of the map (unlike a large keyword argument, which map ships once)."""
    func = site.node.func
    if not isinstance(func, ast.Attribute | ast.Name) or not site.node.args:
        return None
    if analysis.client_method(site.node, site.scope) != "map":
        return None
    function = site.node.args[0]
    if CARRIES_LARGE not in analysis.kinds(function, site.scope):
        return None
    return {"name": ast.unparse(function)[:40], "how": "travels inside the function mapped"}
