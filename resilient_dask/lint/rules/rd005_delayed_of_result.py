"""RD005 delayed-of-result: ``delayed(f(x))`` runs ``f`` now instead of in the graph."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint import sizes
from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import COLLECTION, DELAYED, LARGE
from resilient_dask.lint.rules.base import Finding, Rule, example
from resilient_dask.lint.scopes import Scope

_NOT_WORK = frozenset(
    {
        "dict",
        "list",
        "tuple",
        "set",
        "frozenset",
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "bytearray",
        "range",
        "object",
        "type",
        "getattr",
        "vars",
        "iter",
        "slice",
        "complex",
    }
)
_FACTORY_MODULES = ("functools.", "operator.", "toolz.", "cytoolz.", "dask.")


class DelayedOfResult(Rule):
    code = "RD005"
    name = "delayed-of-result"
    severity = "warning"
    triggers = ("delayed",)
    summary = "delayed() is applied to the result of a call, delayed(f(x)), instead of to f."
    message = (
        "delayed({callee}(...)) calls {callee} now, in this process, and wraps its result; "
        "nothing runs in parallel"
    )
    fix = "write delayed({callee})(...) so the call becomes a task"
    explanation = """\
`dask.delayed(f(x))` evaluates `f(x)` immediately, in the calling process, and only then
hands the finished value to Dask. The work is not parallel, not lazy, and happens before
`compute()` is ever called. Wrap the *function* and call the wrapper:

```python
results = [dask.delayed(process)(path) for path in paths]   # not delayed(process(path))
dask.compute(*results)
```

Not flagged: data loaded once outside a loop (`delayed(np.load(path))` puts a large value
in the graph once, on purpose), class constructors (`delayed(Model(...))` wraps an object
on purpose), `functools.partial`/`operator` helpers, functions of this module that return
a function, and `delayed(make_f())(x)` where the result is called.
"""
    VALID = (
        example("""
            import dask

            results = [dask.delayed(process)(path) for path in paths]
            dask.compute(*results)
        """),
        example("""
            from dask import delayed
            from functools import partial

            task = delayed(partial(process, scale=2))(x)
            model = delayed(Model(alpha=0.1))
            config = delayed(dict(a=1))
        """),
        example("""
            from dask import delayed

            def make_scaler(k):
                def scale(x):
                    return x * k
                return scale

            out = delayed(make_scaler(3))(10)
            keep = delayed(make_scaler(3))
        """),
    )
    INVALID = (
        example(
            """
            import dask

            results = [dask.delayed(process(path)) for path in paths]
            dask.compute(*results)
        """,
            3,
        ),
        example(
            """
            from dask import delayed
            import pandas as pd

            parts = []
            for f in files:
                parts.append(delayed(pd.read_csv(f)))
        """,
            6,
        ),
        example(
            """
            import dask as dk

            def inc(x):
                return x + 1

            total = dk.delayed(sum([inc(1), inc(2)]))
            y = dk.delayed(inc(total))
        """,
            6,
            7,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            call, scope = site.node, site.scope
            if not call.args or not isinstance(call.args[0], ast.Call):
                continue
            if id(call) in analysis.called or not analysis.is_delayed_call(call, scope):
                continue
            inner = call.args[0]
            callee = _callee_name(inner.func)
            if callee is None or self._not_work(analysis, inner, callee, scope):
                continue
            if not site.loops and LARGE in analysis.kinds(inner, scope):
                continue  # delayed(np.load(...)) once: wrapping a large value on purpose
            yield Finding(call, {"callee": callee})

    @staticmethod
    def _not_work(analysis: Analysis, inner: ast.Call, callee: str, scope: Scope) -> bool:
        last = callee.rsplit(".", 1)[-1]
        if last[:1].isupper() or (last in _NOT_WORK and "." not in callee):
            return True
        qualname = analysis.qualname(inner.func, scope) or ""
        if qualname.startswith(_FACTORY_MODULES):
            return True
        if qualname.startswith(("numpy.", "pandas.")) and not sizes.is_loader(qualname):
            return True  # building a small value (np.ones(10)), not doing the work
        if analysis.kinds(inner, scope) & {DELAYED, COLLECTION}:
            return True
        return any(_returns_callable(f) for f in analysis.function_scopes(inner.func, scope))


def _callee_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        base = _callee_name(func.value)
        return f"{base}.{func.attr}" if base else func.attr
    return None


def _returns_callable(function: Scope) -> bool:
    """Whether a function returns a lambda, a nested function or a partial."""
    nested = {c.name for c in function.children if c.kind == "function"}
    for statement in function.returns:
        value = statement.value
        if isinstance(value, ast.Lambda) or (isinstance(value, ast.Name) and value.id in nested):
            return True
        if isinstance(value, ast.Call) and _callee_name(value.func) in (
            "partial",
            "functools.partial",
        ):
            return True
    return False
