"""RD008 delayed-in-delayed: a delayed function builds more delayed calls inside itself."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import DELAYED_FN
from resilient_dask.lint.rules.base import Finding, Rule, example
from resilient_dask.lint.rules.rd004_compute_in_delayed import nested_compute
from resilient_dask.lint.scopes import Scope, pos_of


class DelayedInDelayed(Rule):
    code = "RD008"
    name = "delayed-in-delayed"
    severity = "warning"
    triggers = ("delayed",)
    summary = "A dask.delayed function calls delayed() or another delayed function inside itself."
    message = "delayed function '{task}' {what}"
    fix = "build the whole graph at the top level: call delayed functions outside, pass results in"
    explanation = """\
Inside a running task, `delayed(f)(x)` (or calling a function decorated with `@delayed`)
does not compute anything: it builds a new lazy `Delayed` object. The task then returns
that object uncomputed, or has to call `.compute()` on it, starting a separate small graph
from inside a task. Build the graph where you build the rest of it:

```python
@dask.delayed
def inc(x):
    return x + 1

@dask.delayed
def total(values):         # receives computed values
    return sum(values)

result = total([inc(x) for x in range(10)])   # graph built at the top level
```

A delayed function passed *as an argument* to another delayed function and called there
(`do_math(1, 2, add)` with both decorated) builds no graph: Dask computes every Delayed
argument first, so the task receives the plain function, and the calls run one after
another inside the task instead of as parallel tasks (dask/dask#10733). Call the delayed
function at the top level and pass the results in.

Not flagged: a delayed *value* passed in and called (`delayed(model.cpu())` handed to every
prediction task), and a delayed function that computes its inner graph itself: through a
client (`worker_client().compute(...)`, the pattern distributed documents) or with
`dask.compute(...)`/`.compute()`, which RD004 judges (it is advice there, and none when
the call names its `scheduler=`, as dask's own parquet reader does to read statistics
on a local thread pool inside one task).
"""
    VALID = (
        example("""
            from dask import compute, delayed

            def read(path):
                with open(path) as f:
                    return f.read()

            @delayed
            def read_all(paths):
                texts = compute(*[delayed(read)(p) for p in paths], scheduler="threads")
                return "".join(texts)
        """),
        example("""
            import dask

            @dask.delayed
            def predict(batch, model):
                return model(batch)

            dmodel = dask.delayed(model.cpu())  # a value wrapped once, called in each task
            predictions = [predict(batch, dmodel) for batch in batches]
        """),
        example("""
            import dask

            def inc(x):
                return x + 1

            @dask.delayed
            def apply(fn, x):
                return fn(x)

            out = apply(inc, 1)
        """),
        example("""
            from dask import delayed
            from dask.distributed import worker_client

            @delayed
            def outer(n):
                with worker_client() as client:
                    inner = [delayed(inc)(i) for i in range(n)]
                    futures = client.compute(inner)
                    return sum(client.gather(futures))
        """),
        example("""
            import dask

            @dask.delayed
            def inc(x):
                return x + 1

            @dask.delayed
            def total(values):
                return sum(values)

            result = total([inc(x) for x in range(10)])
        """),
        example("""
            from dask import delayed

            def inc(x):
                return x + 1

            def build(xs):
                return [delayed(inc)(x) for x in xs]

            parts = build(range(5))
        """),
        example("""
            from dask import delayed

            def helper(x):
                return x * 2

            @delayed
            def process(x):
                return helper(x) + 1
        """),
    )
    INVALID = (
        example(
            """
            import dask

            @dask.delayed
            def inc(x):
                return x + 1

            @dask.delayed
            def total(xs):
                return sum(inc(x) for x in xs)
        """,
            9,
        ),
        example(
            """
            from dask import delayed

            def load(path):
                return open(path).read()

            @delayed
            def load_all(paths):
                return [delayed(load)(p) for p in paths]
        """,
            8,
        ),
        example(
            """
            import dask

            @dask.delayed
            def add(x, y):
                return x + y

            @dask.delayed
            def do_math(x, y, op):
                results = []
                for _ in range(4):
                    results.append(op(x, y))
                return results

            dask.compute(do_math(1, 2, add))
        """,
            11,
        ),
        example(
            """
            from dask import delayed

            def inc(x):
                return x + 1

            def apply_doubled(fn, x):
                return fn(x) * 2

            d_inc = delayed(inc)
            result = delayed(apply_doubled)(d_inc, 1)
        """,
            7,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        yield from _passed_in_and_called(analysis)
        for scope, how in analysis.tasks():
            if "delayed" not in how or _computes_inside(analysis, scope):
                continue  # the inner graph is computed in the task (RD004 judges how)
            for site in analysis.body_calls(scope):
                call = site.node
                if analysis.is_delayed_call(call, site.scope):
                    yield Finding(call, {"task": scope.name, "what": "calls delayed()" + _BUILDS})
                elif not isinstance(call.func, ast.Call) and DELAYED_FN in analysis.kinds(
                    call.func, site.scope
                ):
                    name = call.func.id if isinstance(call.func, ast.Name) else "a delayed function"
                    what = f"calls the delayed function '{name}'" + _BUILDS
                    yield Finding(call, {"task": scope.name, "what": what})


def _computes_inside(analysis: Analysis, function: Scope) -> bool:
    """Whether ``function`` computes what it builds: through a client (the documented
    ``worker_client().compute(...)`` pattern) or ``dask.compute``/``.compute()``."""
    return any(
        analysis.client_method(site.node, site.scope) in ("compute", "persist")
        or nested_compute(analysis, site.node, site.scope)
        for site in analysis.body_calls(function)
    )


_BUILDS = (
    "; inside a task that only builds a Delayed object, which is returned uncomputed or "
    "computed serially"
)
_SERIAL = (
    "; Dask passes the plain function, so these calls run one after another inside this "
    "task instead of as parallel tasks (dask/dask#10733)"
)


def _passed_in_and_called(analysis: Analysis) -> Iterator[Finding]:
    """``do_math(1, 2, add)`` where ``do_math`` and ``add`` are delayed and ``do_math``
    calls ``op(x, y)``: the calls run serially inside the task (dask/dask#10733)."""
    candidates = _delayed_function_names(analysis)
    if not candidates:
        return
    for site in analysis.calls():
        call = site.node
        passed = [
            (index, arg)
            for index, arg in enumerate(call.args)
            if isinstance(arg, ast.Name)
            and arg.id in candidates
            and _is_delayed_function(analysis, arg, site.scope)
        ]
        if not passed:
            continue
        target = _delayed_task(analysis, call, site.scope)
        if target is None:
            continue
        node = target.node
        assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        params = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
        names = {params[i]: ast.unparse(arg) for i, arg in passed if i < len(params)}
        for inner in analysis.body_calls(target):
            func = inner.node.func
            if isinstance(func, ast.Name) and func.id in names:
                what = f"calls the delayed function '{names[func.id]}' passed in as '{func.id}'"
                yield Finding(inner.node, {"task": target.name, "what": what + _SERIAL})


def _delayed_function_names(analysis: Analysis) -> set[str]:
    """Names that may hold a delayed function: ``@delayed`` defs and ``x = delayed(...)``
    anywhere in the module (a cheap filter before the real check)."""
    names = {scope.name for scope, how in analysis.tasks() if "delayed" in how}
    for scope in analysis.scopes:
        for name, bindings in scope.bindings.items():
            if any(
                b.kind == "assign"
                and isinstance(b.value, ast.Call)
                and analysis.is_delayed_call(b.value, scope)
                for b in bindings
            ):
                names.add(name)
    return names


def _is_delayed_function(analysis: Analysis, name: ast.Name, scope: Scope) -> bool:
    """A ``@delayed`` function, or ``delayed(f)`` of a function (not of a value such as
    ``delayed(model.cpu())``, which a task may well call)."""
    if DELAYED_FN not in analysis.kinds(name, scope):
        return False
    bindings, _ = analysis.reaching(name.id, scope, pos_of(name))
    for binding in bindings:
        if binding.kind == "def":
            continue  # decorated with @delayed (that is how it is a DELAYED_FN)
        value = binding.value
        if not (
            binding.kind == "assign"
            and isinstance(value, ast.Call)
            and value.args
            and analysis.function_scopes(value.args[0], binding.scope)
        ):
            return False
    return bool(bindings)


def _delayed_task(analysis: Analysis, call: ast.Call, scope: Scope) -> Scope | None:
    """The module's function that ``call`` runs as a delayed task, if it is one."""
    func = call.func
    if isinstance(func, ast.Call) and analysis.is_delayed_call(func, scope) and func.args:
        candidates = analysis.function_scopes(func.args[0], scope)
    elif isinstance(func, ast.Name) and DELAYED_FN in analysis.kinds(func, scope):
        candidates = analysis.function_scopes(func, scope)
    else:
        return None
    return candidates[0] if len(candidates) == 1 else None
