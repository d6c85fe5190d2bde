"""RD012 scatter-in-loop: the same object, or ready items one by one, scattered in a loop."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint import loops
from resilient_dask.lint.analysis import Analysis, keyword_arg
from resilient_dask.lint.rules.base import Finding, Rule, called_text, example
from resilient_dask.lint.scopes import Loop

_VIEW_METHODS = frozenset({"items", "values", "keys"})
_PAIRING_BUILTINS = frozenset({"enumerate", "zip", "reversed", "sorted"})


class ScatterInLoop(Rule):
    code = "RD012"
    name = "scatter-in-loop"
    severity = "warning"
    triggers = ("scatter",)
    summary = (
        "A loop scatters the same object on every iteration, or scatters items that are "
        "already in memory one at a time."
    )
    message = "{call} {what}"
    fix = (
        "scatter once: client.scatter(items) sends a whole list (or dict) in one call; "
        "an object every iteration needs is scattered before the loop"
    )
    explanation = """\
Each `scatter` call is a round trip to the scheduler plus a transfer to a worker. Two loops
waste them:

- **the same object scattered again on every iteration** (it does not depend on the loop):
  it is hashed, sent and stored once per iteration. Scatter it once before the loop
  (`broadcast=True` if every worker needs it) and pass the Future.
- **items that are already in memory scattered one at a time** (`for chunk in chunks:
  client.scatter(chunk)`): the round trips run one after another. `client.scatter` accepts
  a list (or dict) and sends it in one call:

```python
futures = client.scatter(chunks)              # not [client.scatter(c) for c in chunks]
results = client.map(process, futures)
```

Not flagged: a loop that loads or builds a different batch on each iteration and scatters
it (`batch = load(path); client.scatter(batch)`). That bounds the memory the client holds
and is often done on purpose. Also not flagged: `while` and `async for` loops (streaming
data as it arrives), loops over a generator or a call, scatters that target specific
`workers=`, and a scatter under an `if` in the loop, which sends only the items a condition
picks (the large ones, those not scattered yet), as a cache of scattered data does.
"""
    VALID = (
        example("""
            from dask.distributed import get_client

            def to_futures(args, cache):
                client = get_client()
                out = []
                for arg in args:
                    future = cache.get(id(arg))
                    if future is None and sizeof(arg) > 1e3:
                        future = cache[id(arg)] = client.scatter(arg, hash=False)
                    out.append(future if future is not None else arg)
                return out
        """),
        example("""
            from dask.distributed import Client

            client = Client()
            futures = client.scatter(chunks)
            results = client.map(process, futures)
        """),
        example("""
            async def stream(client, source):
                async for batch in source:
                    fut = await client.scatter(batch)
                    await client.submit(process, fut)
        """),
        example("""
            for w in client.scheduler_info()["workers"]:
                client.scatter(lookup_table, workers=[w])
            big = client.scatter(table, broadcast=True)
        """),
        example("""
            import pandas as pd
            from dask.distributed import Client

            client = Client()
            results = []
            for path in paths:
                batch = pd.read_parquet(path)
                future = client.scatter(batch)
                results.append(client.submit(process, future).result())
        """),
        example("""
            from dask.distributed import Client

            client = Client()
            for batch in read_batches(source):
                client.submit(process, client.scatter(batch)).result()
        """),
    )
    INVALID = (
        example(
            """
            from dask.distributed import Client

            client = Client()
            futures = [client.scatter(chunk) for chunk in chunks]
        """,
            4,
        ),
        example(
            """
            from dask.distributed import Client

            client = Client()
            out = []
            for name, frame in frames.items():
                f = client.scatter(frame)
                out.append(client.submit(process, f))
        """,
            6,
        ),
        example(
            """
            from dask.distributed import get_client

            scatter = get_client().scatter
            futures = {k: scatter(v) for k, v in data.items()}
        """,
            4,
        ),
        example(
            """
            from dask.distributed import Client

            client = Client()
            for params in grid:
                model = client.scatter(training_data)
                client.submit(fit, model, params)
        """,
            5,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            if not site.loops or isinstance(site.loops[-1], ast.While | ast.AsyncFor):
                continue
            call = site.node
            if analysis.client_method(call, site.scope) != "scatter" or not call.args:
                continue
            if keyword_arg(call, "workers") is not None:
                continue
            loop, data = site.loops[-1], call.args[0]
            varying = loops.varying_names(loop, exclude=call)
            if _invariant(data, varying):
                what = f"sends the same object '{ast.unparse(data)[:40]}' again on every iteration"
            elif _ready_item(
                data, loop, loops.assigned_names(loop) - loops.target_names(loop)
            ) and not _picked(call, loop):
                source = ast.unparse(_iterable(loop))[:40]
                what = (
                    f"scatters the items of '{source}', already in memory, one at a time: "
                    "one round trip per item"
                )
            else:
                continue
            yield Finding(call, {"call": called_text(call), "what": what})


def _picked(call: ast.Call, loop: Loop) -> bool:
    """The scatter runs under an ``if`` inside the loop: only the items a condition picks
    (the large ones, those not scattered yet) are sent, as a cache of scattered data
    does (joblib's dask backend). That is a choice, not a batch done item by item."""
    return any(
        isinstance(node, ast.If) and any(inner is call for inner in ast.walk(node))
        for node in ast.walk(loop)
    )


def _invariant(expr: ast.expr, varying: set[str]) -> bool:
    """A name or attribute chain that no iteration rebinds or mutates."""
    if isinstance(expr, ast.Name):
        return expr.id not in varying
    if isinstance(expr, ast.Attribute):
        return _invariant(expr.value, varying)
    return False


def _iterable(loop: Loop) -> ast.expr:
    if isinstance(loop, ast.For | ast.AsyncFor):
        return loop.iter
    assert not isinstance(loop, ast.While)
    return loop.generators[0].iter


def _ready_item(data: ast.expr, loop: Loop, rebound: set[str]) -> bool:
    """``data`` is an item of an in-memory container the loop walks over."""
    if not _in_memory(_iterable(loop)):
        return False
    targets = loops.target_names(loop)
    if isinstance(data, ast.Name):
        return data.id in targets and data.id not in rebound
    if isinstance(data, ast.Subscript) and isinstance(data.value, ast.Name):
        index = data.slice
        return isinstance(index, ast.Name) and index.id in targets and data.value.id not in rebound
    return False


def _in_memory(iterable: ast.expr) -> bool:
    """A name or attribute (``chunks``, ``d.items()``, ``enumerate(xs)``, ``range(len(xs))``)."""
    if isinstance(iterable, ast.Name | ast.Attribute):
        return True  # (a literal list holds a few hand-written values: not worth batching)
    if not isinstance(iterable, ast.Call) or iterable.keywords:
        return False
    func = iterable.func
    if isinstance(func, ast.Attribute) and func.attr in _VIEW_METHODS and not iterable.args:
        return isinstance(func.value, ast.Name | ast.Attribute)
    if isinstance(func, ast.Name) and func.id in _PAIRING_BUILTINS:
        return bool(iterable.args) and all(_in_memory(a) for a in iterable.args)
    if isinstance(func, ast.Name) and func.id == "range" and len(iterable.args) == 1:
        inner = iterable.args[0]
        return (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Name)
            and inner.func.id == "len"
        )
    return False
