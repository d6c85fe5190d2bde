"""RD012 scatter-in-loop: ``client.scatter`` called once per item of a loop."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis, keyword_arg
from resilient_dask.lint.rules.base import Finding, Rule, example


class ScatterInLoop(Rule):
    code = "RD012"
    name = "scatter-in-loop"
    severity = "warning"
    triggers = ("client", "Client")
    summary = "client.scatter() is called inside a for loop or comprehension, one item at a time."
    message = "client.scatter() inside a loop makes one round trip to the scheduler per item"
    fix = "scatter the whole list once: futures = client.scatter(items)"
    explanation = """\
Each `scatter` call is a round trip to the scheduler plus a transfer to a worker.
Scattering item by item in a loop serialises those round trips. `client.scatter` accepts a
list (or dict) and returns a list (or dict) of Futures in one call:

```python
futures = client.scatter(chunks)              # not [client.scatter(c) for c in chunks]
results = client.map(process, futures)
```

Not flagged: `while` and `async for` loops (streaming data as it arrives) and scatters that
target specific `workers=`.
"""
    VALID = (
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
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            if not site.loops or isinstance(site.loops[-1], ast.While | ast.AsyncFor):
                continue
            call = site.node
            if analysis.client_method(call, site.scope) != "scatter":
                continue
            if keyword_arg(call, "workers") is not None:
                continue
            yield Finding(call)
