"""RD002 blocking-wait-in-task: a task blocks its worker thread waiting on Futures."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT_WORDS, FROM_WORKER_CLIENT, FUTURE
from resilient_dask.lint.rules.base import Finding, Rule, called_text, example
from resilient_dask.lint.scopes import Scope


def blocking_call(analysis: Analysis, call: ast.Call, scope: Scope) -> tuple[str, bool] | None:
    """``(description, from_worker_client)`` if ``call`` waits for Futures."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "result":
        kinds = analysis.kinds(func.value, scope)
        if FUTURE in kinds:
            return called_text(call), FROM_WORKER_CLIENT in kinds
        return None
    if analysis.client_method(call, scope) == "gather":
        return called_text(call), FROM_WORKER_CLIENT in analysis.kinds(func, scope)
    if analysis.is_call_to(call, scope, "distributed.wait", "distributed.as_completed"):
        arg = call.args[0] if call.args else None
        return called_text(call), FROM_WORKER_CLIENT in analysis.kinds(arg, scope)
    return None


class BlockingWaitInTask(Rule):
    code = "RD002"
    name = "blocking-wait-in-task"
    severity = "error"
    triggers = CLIENT_WORDS
    summary = (
        "A task waits for Futures (.result(), gather(), wait(), as_completed()) "
        "while holding its worker thread."
    )
    message = (
        "task '{task}' blocks on {call} while occupying a worker thread; when every thread "
        "waits like this the worker deadlocks"
    )
    fix = "call secede() before waiting and rejoin() after, or use `with worker_client() as c:`"
    not_in_tests = (
        "a test that blocks a task on its own sub-task is how `get_client()` from a task "
        "is tested (distributed's own tests do it), on a cluster the test sizes so that "
        "it cannot deadlock."
    )
    explanation = """\
A task runs on one of the worker's threads. If it submits more work with `get_client()`
and then waits for it (`fut.result()`, `client.gather()`, `wait()`, iterating
`as_completed()`), the thread sits idle while still counted as busy. With enough such
tasks every thread waits for work that has no thread to run on: the cluster deadlocks
(or slows to a crawl).

Tell the worker the thread is free while it waits: `worker_client()` does that for the
duration of its block, or call `secede()` before waiting and `rejoin()` afterwards.
(`dask_collection.compute()` inside a task secedes by itself and is not flagged here.)

```python
from dask.distributed import worker_client

def task(items):
    with worker_client() as client:
        futures = client.map(process, items)
        return sum(client.gather(futures))
```
"""
    VALID = (
        example("""
            from distributed import Client, local_client

            def fib(n):
                if n < 2:
                    return n
                with local_client() as lc:
                    a = lc.submit(fib, n - 1)
                    b = lc.submit(fib, n - 2)
                    a, b = lc.gather([a, b])
                    return a + b

            future = Client().submit(fib, 10)
        """),
        example("""
            from distributed import wait

            def settle(futures):
                wait(futures)
                return len(futures)

            def run(pool, batches):
                return [pool.submit(settle, b).result() for b in batches]
        """),
        example("""
            from distributed import get_client, wait

            def analyze(collection):
                client = get_client()
                client.register_plugin(Recorder())
                wait(client.compute(collection))
                return client.sync(client.scheduler.get_stats)
        """),
        example("""
            from dask.distributed import worker_client

            def task(xs):
                with worker_client() as c:
                    futs = c.map(inc, xs)
                    return c.gather(futs)

            client.submit(task, [1, 2])
        """),
        example("""
            from dask.distributed import get_client, secede, rejoin

            def task(x):
                client = get_client()
                fut = client.submit(inc, x)
                secede()
                out = fut.result()
                rejoin()
                return out

            client.submit(task, 1)
        """),
        example("""
            from dask.distributed import Client, wait

            client = Client()
            futs = client.map(inc, range(10))
            wait(futs)
            print(client.gather(futs), futs[0].result())
        """),
        example("""
            import concurrent.futures

            def task(x):
                with concurrent.futures.ThreadPoolExecutor() as pool:
                    return pool.submit(inc, x).result()

            client.submit(task, 1)
        """),
    )
    INVALID = (
        example(
            """
            from dask.distributed import get_client

            def task(x):
                fut = get_client().submit(inc, x)
                fut = fut.result()
                return fut

            client.submit(task, 1)
        """,
            5,
        ),
        example(
            """
            from dask.distributed import get_client

            def task(x):
                client = get_client()
                fut = client.submit(inc, x)
                return fut.result()

            client.submit(task, 1)
        """,
            6,
        ),
        example(
            """
            from dask.distributed import get_client, wait
            import dask

            @dask.delayed
            def task(xs):
                client = get_client()
                futs = client.map(inc, xs)
                wait(futs)
                return client.gather(futs)
        """,
            8,
            9,
        ),
        example(
            """
            from dask.distributed import get_client, as_completed, secede, rejoin

            def task(xs):
                c = get_client()
                secede()
                futs = c.map(inc, xs)
                rejoin()
                return [f.result() for f in as_completed(futs)]

            client.submit(task, [1])
        """,
            8,
            8,
        ),
        example(
            """
            import distributed

            def task(x):
                return distributed.get_client().submit(inc, x).result()

            client.map(task, range(4))
        """,
            4,
        ),
        example(
            """
            from distributed import get_client

            def load_all(paths):
                client = get_client()
                futures = client.map(load, paths)
                return [f.result() for f in futures]
        """,
            6,
        ),
        example(
            """
            from distributed import Client, wait

            client = Client()

            def settle(futures):
                wait(futures)
                return len(futures)

            def count(futures):
                return len(futures)

            for fn in (settle, count):
                client.submit(fn, batch)
        """,
            6,
        ),
        example(
            """
            from distributed import wait

            def settle(futures):
                wait(futures)
                return len(futures)

            def run(c, batches):
                futures = c.map(settle, batches)
                return c.gather(futures)
        """,
            4,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for scope, _ in analysis.tasks():
            for site in analysis.body_calls(scope):
                call = site.node
                if id(call) in analysis.awaited:
                    continue
                found = blocking_call(analysis, call, site.scope)
                if found is None or found[1]:
                    continue  # futures of a worker_client are RD013's business
                if analysis.in_worker_client_block(site) or analysis.seceded_at(site):
                    continue
                if _waits_on_captured(analysis, call, site.scope, scope):
                    continue  # a Future from an enclosing scope: RD003 reports that
                yield Finding(call, {"task": scope.name, "call": found[0]})


def _waits_on_captured(analysis: Analysis, call: ast.Call, where: Scope, task: Scope) -> bool:
    """Whether the awaited Future is a name bound outside the task."""
    func = call.func
    waited = (
        func.value
        if isinstance(func, ast.Attribute) and func.attr == "result"
        else (call.args[0] if call.args else None)
    )
    if not isinstance(waited, ast.Name):
        return False
    owner = analysis.lookup(waited.id, where)
    return owner is not None and owner.function() is not task
