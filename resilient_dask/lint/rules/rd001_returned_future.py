"""RD001 returned-future: a task returns a Future it created (dask/distributed#8854)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT_WORDS, FUTURE, FUTURES, PERSISTED
from resilient_dask.lint.rules.base import Finding, Rule, example


class ReturnedFuture(Rule):
    code = "RD001"
    name = "returned-future"
    severity = "error"
    triggers = CLIENT_WORDS
    summary = "A task returns a Future (or a list/tuple/dict of them) that it created itself."
    message = (
        "task '{task}' returns {what} it created with its own client; the cluster releases "
        "that data when the task ends, so the caller gets a dead future "
        "(dask/distributed#8854)"
    )
    fix = "return the result (fut.result() / client.gather(futs)), not the Future"
    explanation = """\
Since dask 2024.9 a Future that a task creates with `get_client()`, `worker_client()` or a
`Client` (by `.submit`, `.map`, `.scatter`, `.compute` or `.persist`) belongs to that task.
When the task returns it, nothing on the scheduler keeps the Future's data alive: the
caller receives a Future whose key the cluster has already released. The result never
arrives, or fails with "object not properly initialized" (dask/distributed#8854). Nothing
warns you.

Return the *value* instead: wait for it inside the task (with `secede()`/`rejoin()` or
`worker_client()` so the worker thread is not blocked), or restructure so the caller
submits the follow-up work itself.

```python
from dask.distributed import worker_client

def fan_out(items):
    with worker_client() as client:
        futures = client.map(process, items)
        return client.gather(futures)   # values, not Futures
```
"""
    VALID = (
        example("""
            from concurrent.futures import ThreadPoolExecutor

            from distributed import get_client

            def fan_out(x):
                return get_client().submit(inc, x)

            with ThreadPoolExecutor() as c:
                futures = [c.submit(fan_out, i) for i in range(3)]
            print(fan_out(0).result())
        """),
        example("""
            from dask.distributed import worker_client

            def fan_out(items):
                with worker_client() as client:
                    futures = client.map(process, items)
                    return client.gather(futures)

            future = client.submit(fan_out, [1, 2, 3])
        """),
        example("""
            from dask.distributed import get_client, secede, rejoin

            def task(x):
                client = get_client()
                fut = client.submit(inc, x)
                secede()
                value = fut.result()
                rejoin()
                return value

            client.submit(task, 1)
        """),
        example("""
            from dask.distributed import Client

            def start(client, data):
                # top-level client code may return futures freely
                return [client.submit(process, d) for d in data]

            client = Client()
            futures = start(client, range(10))
        """),
        example("""
            from dask.distributed import worker_client

            def task(x):
                with worker_client() as c:
                    fut = c.submit(inc, x)
                    fut = fut.result()
                return fut

            client.submit(task, 1)
        """),
    )
    INVALID = (
        example(
            """
            from dask.distributed import get_client

            def task(x):
                client = get_client()
                fut = client.submit(inc, x)
                return fut

            client.submit(task, 1)
        """,
            6,
        ),
        example(
            """
            from dask.distributed import worker_client

            def task(xs):
                with worker_client() as c:
                    futs = c.map(inc, xs)
                    big = c.scatter(xs)
                    return futs, big

            client.submit(task, [1, 2])
        """,
            7,
        ),
        example(
            """
            import dask
            from dask.distributed import get_client

            @dask.delayed
            def task(xs):
                client = get_client()
                out = {}
                for x in xs:
                    out[x] = client.submit(inc, x)
                return out
        """,
            10,
        ),
        example(
            """
            from distributed import get_client

            def task(x):
                return get_client().submit(inc, x)

            client.map(task, range(3))
        """,
            4,
        ),
        example(
            """
            from distributed import Client, get_client

            def connect() -> Client:
                return Client("tcp://scheduler:8786")

            def expand(x):
                return get_client().submit(inc, x)

            def expand_all(xs):
                fut = get_client().submit(sum, xs)
                return fut

            c = connect()
            c.submit(expand, 1)
            Client.current().map(expand_all, [[1], [2]])
        """,
            7,
            11,
        ),
        example(
            """
            from distributed import get_client
            from distributed.utils_test import gen_cluster

            @gen_cluster(client=True)
            async def test_fan_out(c, s, a, b):
                def fan_out(x):
                    return get_client().submit(inc, x)

                await c.submit(fan_out, 1)
        """,
            7,
        ),
        example(
            """
            from distributed import get_client

            def fan_out(x):
                futures = get_client().map(inc, range(x))
                return futures
        """,
            5,
        ),
        example(
            """
            from distributed import Client, get_client

            client = Client()
            fut = client.submit(lambda x: get_client().submit(inc, x), 1)
        """,
            4,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for scope, _ in analysis.tasks():
            for statement in scope.returns:
                value = statement.value
                if value is None:
                    continue
                if isinstance(value, ast.Name) and analysis.lookup(value.id, scope) is not scope:
                    continue  # not created here (a captured future is RD003)
                kinds = analysis.kinds(value, scope)
                if not kinds & {FUTURE, FUTURES, PERSISTED}:
                    continue
                what = (
                    "a Future"
                    if FUTURE in kinds
                    else "a persisted collection"
                    if PERSISTED in kinds
                    else "Futures"
                )
                yield Finding(statement, {"task": scope.name, "what": what})
