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
_VALUE_LIBRARIES = ("np.", "numpy.", "pd.", "pandas.")
"""Spelled like this even without an import (a documentation snippet): value constructors."""


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
            from dask import delayed

            class settings_store:
                def __init__(self, path):
                    self.path = path

            store = delayed(settings_store("settings.toml"))
            weights = delayed(np.ones(10))
            frame = delayed(pd.DataFrame({"a": [1, 2]}))
        """),
        example("""
            import dask

            model = dask.delayed(load_model("model.pkl"))
            scores = [dask.delayed(score)(model, batch) for batch in batches]
        """),
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
            if not site.loops and _shared_by_a_loop(analysis, site.statement):
                continue  # x = delayed(load()) once, then passed to every task of a loop
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
        if not qualname and callee.startswith(_VALUE_LIBRARIES) and not _loads(last):
            return True
        if isinstance(inner.func, ast.Name):
            owner = analysis.lookup(inner.func.id, scope)
            if owner is not None and any(
                b.kind == "class" for b in owner.bindings[inner.func.id]
            ):
                return True  # an instance of the module's own class, whatever its name
        if analysis.kinds(inner, scope) & {DELAYED, COLLECTION}:
            return True
        return any(_returns_callable(f) for f in analysis.function_scopes(inner.func, scope))


def _loads(name: str) -> bool:
    return name.startswith(("read_", "load", "from_")) or name in ("fromfile", "genfromtxt")


def _shared_by_a_loop(analysis: Analysis, statement: ast.AST | None) -> bool:
    """``statement`` binds one name that a later loop passes to a call."""
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return False
    target = statement.targets[0]
    if not isinstance(target, ast.Name):
        return False
    return any(
        site.loops
        and any(
            isinstance(arg, ast.Name) and arg.id == target.id
            for arg in (*site.node.args, *(k.value for k in site.node.keywords))
        )
        for site in analysis.calls()
    )


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
