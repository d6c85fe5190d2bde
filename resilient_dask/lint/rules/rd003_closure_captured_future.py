"""RD003 closure-captured-future: a task uses a Future from an enclosing scope."""

from __future__ import annotations

from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT_WORDS, FUTURE, FUTURES
from resilient_dask.lint.rules.base import Finding, Rule, example


class ClosureCapturedFuture(Rule):
    code = "RD003"
    name = "closure-captured-future"
    severity = "error"
    triggers = CLIENT_WORDS
    summary = (
        "A task reads a Future from an enclosing scope instead of receiving it as an argument."
    )
    message = (
        "task '{task}' uses the Future '{future}' from an enclosing scope; the scheduler "
        "cannot see this dependency, so the data may be gone (or not ready) when the task "
        "runs (dask/distributed#7746)"
    )
    fix = "pass the Future as an argument: client.submit(task, {future}) / delayed(task)({future})"
    explanation = """\
Dask finds a task's dependencies by looking at its *arguments*. A Future that the task
function reads from a closure or a global is pickled along with the function, invisible to
the scheduler: the task may start before the Future's data exists, run on a worker that
has to fetch it ad hoc, or find that the data was released because nothing the scheduler
knows about needs it (dask/distributed#7746).

Pass the Future as an argument; Dask then waits for it, moves it, and hands the task the
*value*:

```python
big = client.scatter(data)

def task(x, data):            # receives the value of `big`
    return x + data.sum()

futures = [client.submit(task, x, big) for x in range(10)]
```
"""
    VALID = (
        example("""
            from dask.distributed import Client

            client = Client()
            big = client.scatter(list(range(1000)))

            def task(x, data):
                return x + len(data)

            futures = [client.submit(task, x, big) for x in range(10)]
        """),
        example("""
            from dask.distributed import Client

            def main():
                client = Client()
                fut = client.submit(load)
                out = client.submit(lambda d: d * 2, fut)
                return out.result()
        """),
        example("""
            from dask.distributed import Client

            client = Client()
            SCALE = 3

            def task(x):
                return x * SCALE

            futs = client.map(task, range(5))
            total = sum(f.result() for f in futs)
        """),
    )
    INVALID = (
        example(
            """
            from dask.distributed import Client

            client = Client()
            big = client.scatter(list(range(1000)))

            def task(x):
                return x + len(big.result())

            futures = [client.submit(task, x) for x in range(10)]
        """,
            7,
        ),
        example(
            """
            from dask.distributed import Client

            def main():
                client = Client()
                fut = client.submit(load)
                out = client.submit(lambda: fut.result() * 2)
                return out.result()
        """,
            6,
        ),
        example(
            """
            import dask
            from dask.distributed import Client

            client = Client()
            parts = client.map(load, range(4))

            @dask.delayed
            def combine():
                return sum(p.result() for p in parts)
        """,
            9,
        ),
        example(
            """
            from dask.distributed import Client

            client = Client()
            model = client.submit(train)

            def predict(batch):
                return model.result().predict(batch)

            preds = client.map(predict, batches)
        """,
            7,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for scope, _ in analysis.tasks():
            seen: set[str] = set()
            for inner in analysis.own_scopes(scope):
                for load in inner.loads:
                    if load.id in seen:
                        continue
                    owner = analysis.lookup(load.id, inner)
                    if owner is None or owner is scope or owner.function() is scope:
                        continue
                    if analysis.kinds(load, inner) & {FUTURE, FUTURES}:
                        seen.add(load.id)
                        yield Finding(load, {"task": scope.name, "future": load.id})
