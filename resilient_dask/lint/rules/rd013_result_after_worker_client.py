"""RD013 result-after-worker-client: waiting on a worker_client Future after its block."""

from __future__ import annotations

from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.rules.base import Finding, Rule, example
from resilient_dask.lint.rules.rd002_blocking_wait_in_task import blocking_call


class ResultAfterWorkerClient(Rule):
    code = "RD013"
    name = "result-after-worker-client"
    severity = "error"
    triggers = ("worker_client",)
    summary = "A Future from `with worker_client()` is waited on after the with block has exited."
    message = (
        "{call} waits on a Future from a worker_client() block that has already exited: the "
        "task has rejoined its thread, so this blocks it (and the client is closed)"
    )
    fix = "wait for the results (gather/.result()) inside the `with worker_client()` block"
    explanation = """\
`with worker_client() as client:` secedes the task from its worker thread on entry and
rejoins on exit. Waiting for its Futures *inside* the block is safe; waiting *after* the
block blocks the rejoined thread exactly like `get_client()` without `secede()` (see
RD002), and the block's client is no longer meant to be used.

```python
def task(items):
    with worker_client() as client:
        futures = client.map(process, items)
        results = client.gather(futures)   # inside the block
    return sum(results)
```
"""
    VALID = (
        example("""
            from distributed import worker_client

            def func(x):
                manager = worker_client()
                with manager as c:
                    return c.submit(inc, x).result()
        """),
        example("""
            from dask.distributed import worker_client

            def task(items):
                with worker_client() as client:
                    futures = client.map(process, items)
                    results = client.gather(futures)
                return sum(results)
        """),
        example("""
            from dask.distributed import worker_client

            def task(x):
                with worker_client() as c:
                    fut = c.submit(inc, x)
                    value = fut.result()
                return value + 1
        """),
        example("""
            from dask.distributed import worker_client

            def task(x):
                with worker_client() as c:
                    fut = c.submit(inc, x)
                with worker_client():
                    return fut.result()
        """),
    )
    INVALID = (
        example(
            """
            from dask.distributed import worker_client

            def task(x):
                with worker_client() as c:
                    fut = c.submit(inc, x)
                return fut.result()
        """,
            6,
        ),
        example(
            """
            from dask.distributed import worker_client, wait

            def task(items):
                with worker_client() as client:
                    futures = client.map(process, items)
                wait(futures)
                return client.gather(futures)
        """,
            6,
            7,
        ),
        example(
            """
            from distributed import worker_client

            def task(items):
                with worker_client(separate_thread=False) as wc:
                    futs = [wc.submit(f, i) for i in items]
                return [f.result() for f in futs]
        """,
            6,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            if id(site.node) in analysis.awaited:
                continue
            found = blocking_call(analysis, site.node, site.scope)
            if found is None or not found[1] or analysis.in_worker_client_block(site):
                continue
            yield Finding(site.node, {"call": found[0]})
