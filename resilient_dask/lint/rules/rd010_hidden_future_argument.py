"""RD010 hidden-future-argument: a Future reaches a task inside a partial or an object."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT_WORDS, FUTURE, FUTURES, HIDES_FUTURE, PERSISTED
from resilient_dask.lint.rules._taskcalls import task_call
from resilient_dask.lint.rules.base import Finding, Rule, example
from resilient_dask.lint.scopes import CallSite, pos_of

_FUTUREISH = frozenset({FUTURE, FUTURES, PERSISTED})


class HiddenFutureArgument(Rule):
    code = "RD010"
    name = "hidden-future-argument"
    severity = "error"
    triggers = CLIENT_WORDS
    summary = (
        "A Future is passed to a task hidden inside a functools.partial, a SimpleNamespace or "
        "an object attribute, where Dask cannot see it."
    )
    message = (
        "'{name}' carries a Future inside {container}; Dask only finds Futures in arguments "
        "and plain lists/tuples/dicts, so this dependency is invisible to the scheduler"
    )
    fix = "pass the Future itself as an argument (or in a list/dict) to submit/delayed"
    explanation = """\
Dask looks for Futures in a task's arguments, including inside lists, tuples, sets and
dicts. It does not look inside a `functools.partial`, a `types.SimpleNamespace`, or the
attributes of your own objects. A Future hidden there is pickled with the task, the
scheduler does not know the task depends on it, and the data may be released or not yet
computed when the task runs (the same failure as a closure-captured Future, RD003).

```python
fut = client.submit(load)
client.submit(process, fut, scale=2)          # not client.submit(partial(process, fut))
params = {"data": fut, "scale": 2}            # dicts are searched
client.submit(run, params)
```
"""
    VALID = (
        example("""
            from dask.distributed import Client

            client = Client()
            fut = client.submit(load)
            out = client.submit(process, fut, scale=2)
            params = {"data": fut, "scale": 2}
            client.submit(run, params)
        """),
        example("""
            from functools import partial
            from dask.distributed import Client

            client = Client()
            fut = client.submit(load)
            scaled = partial(process, scale=2)
            out = client.submit(scaled, fut)
        """),
        example("""
            from types import SimpleNamespace
            from dask.distributed import Client

            client = Client()
            config = SimpleNamespace(scale=2, name="run-1")
            config.path = "/data"
            client.submit(run, config)
        """),
    )
    INVALID = (
        example(
            """
            from functools import partial
            from dask.distributed import Client

            client = Client()
            fut = client.submit(load)
            out = client.submit(partial(process, fut))
        """,
            6,
        ),
        example(
            """
            import functools
            import dask
            from dask.distributed import Client

            client = Client()
            data = client.scatter(table)
            job = functools.partial(process, table=data)
            result = dask.delayed(job)(1)
        """,
            8,
        ),
        example(
            """
            from types import SimpleNamespace
            from dask.distributed import Client

            client = Client()
            cfg = SimpleNamespace(scale=2)
            cfg.data = client.submit(load)
            futs = client.map(run, [cfg, cfg])
            one = client.submit(run, cfg)
        """,
            8,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            task = task_call(analysis, site)
            if task is None:
                continue
            for arg in (task.function, *task.payload):
                found = self._hidden(analysis, site, arg)
                if found is not None:
                    yield Finding(site.node, {"name": found[0], "container": found[1]})
                    break

    @staticmethod
    def _hidden(analysis: Analysis, site: CallSite, arg: ast.expr | None) -> tuple[str, str] | None:
        if arg is None:
            return None
        scope = site.scope
        kinds = analysis.kinds(arg, scope)
        name = ast.unparse(arg)[:40]
        if HIDES_FUTURE in kinds:
            return name, "a functools.partial or SimpleNamespace"
        target = arg.value if isinstance(arg, ast.Attribute) else arg
        if isinstance(target, ast.Name):
            where = pos_of(site.node)
            for inner in analysis.own_scopes(scope.function()):
                for store, value, at in inner.attr_stores:
                    if (
                        isinstance(store.value, ast.Name)
                        and store.value.id == target.id
                        and at < where
                        and analysis.kinds(value, inner) & _FUTUREISH
                    ):
                        return target.id, f"its attribute .{store.attr}"
        return None
