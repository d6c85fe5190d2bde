"""RD006 compute-in-loop: ``.compute()`` once per iteration on independent values."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint import loops
from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT, COLLECTION, DELAYED
from resilient_dask.lint.rules.base import Finding, Rule, called_text, example
from resilient_dask.lint.scopes import CallSite, Loop, end_of, pos_of


class ComputeInLoop(Rule):
    code = "RD006"
    name = "compute-in-loop"
    severity = "warning"
    triggers = ("compute",)
    summary = (
        "A loop calls .compute() (or dask.compute()) once per iteration on independent values, "
        "computes the same value on every iteration, or the same collection twice per iteration."
    )
    message = "{call} {what}"
    fix = (
        "collect the lazy values in the loop and call dask.compute(*values) once after it "
        "(a value that does not change: compute it once before the loop)"
    )
    explanation = """\
Every `.compute()` is a round trip: build a graph, optimise it, send it to the scheduler,
wait for the result. In a loop over independent items the items are processed one after
another, and work they share (reading the same files, a common intermediate) is redone
each time. Collect the lazy values and compute them together:

```python
lazy = [ddf[ddf.year == y].amount.sum() for y in years]
totals = dask.compute(*lazy)        # one graph, shared reads, parallel
```

A value that does not depend on the loop at all is computed again on every iteration:
compute it once before the loop. Two `.compute()` calls on the same collection in one
iteration read and process it twice: `dask.compute(x.mean(), x.std())` shares the work.

Not flagged: `while` loops, loops that `break`/`return`/`yield`/`raise`, loops that
`.persist()` (iterative algorithms), results used in a condition inside the loop or fed
into the next iteration, and computations that do not depend on the loop variable.
"""
    VALID = (
        example("""
            import time

            import dask.array as da

            y = da.random.normal(10, 0.1, size=(20_000, 20_000)).mean(axis=0)
            for scheduler in ["threading", "processes", "sync"]:
                start = time.perf_counter()
                y.compute(scheduler=scheduler)
                print(scheduler, time.perf_counter() - start)
        """),
        example("""
            import dask.array as da

            for workers in [2, 4, 8]:
                cluster.scale(workers)
                client.wait_for_workers(workers)
                print(workers, da.random.random(10**8, chunks=10**6).mean().compute())
        """),
        example("""
            import dask.array as da

            x = da.random.random((1000, 10))
            centers = x[:3].compute()
            for step in range(steps):
                picked = pick(x, centers)
                centers = x[sorted(picked)].compute()
            for n in sizes:
                y = x[:n]
                assert_eq(y.sum().compute(), y.compute().sum())
                assert y.max().compute() <= 1
        """),
        example("""
            import dask

            lazy = [ddf[ddf.year == y].amount.sum() for y in years]
            totals = dask.compute(*lazy)
        """),
        example("""
            x = initial
            for i in range(100):
                x = (x - gradient(x) * 0.1).compute()
        """),
        example("""
            for path in paths:
                n = dd.read_csv(path).shape[0].compute()
                if n == 0:
                    break
            while not converged:
                err = (model - target).sum().compute()
                converged = err < 1e-3
        """),
        example("""
            for step in range(10):
                state = update(state, step).persist()
                print(state.sum().compute())
        """),
        example("""
            import pytest

            for bad in [negative, not_a_number]:
                with pytest.raises(ValueError):
                    check(bad).compute()
        """),
        example("""
            import tempfile

            import dask.dataframe as dd

            for engine in ["pyarrow", "fastparquet"]:
                with tempfile.TemporaryDirectory() as tmp:
                    ddf.to_parquet(tmp, engine=engine)
                    total = dd.read_parquet(tmp, engine=engine).x.sum().compute()
        """),
        example("""
            import pandas as pd

            for year in years:
                path = f"out/{year}.parquet"
                ddf[ddf.year == year].to_parquet(path, compute=False).compute()
                written = pd.read_parquet(path)
        """),
        example("""
            for i in range(X.numblocks[0]):
                X_block = X.blocks[i].compute()
                model.partial_fit(X_block, y.blocks[i].compute(), classes=[0, 1])
        """),
        example("""
            class Mean:
                def __init__(self, values):
                    self.values = values

                def compute(self):
                    return sum(self.values) / len(self.values)

            summary = Summary()
            means = {name: summary.compute(values) for name, values in groups.items()}
            for metric in [Mean(a), Mean(b)]:
                scores[metric.name] = metric.compute()
        """),
    )
    INVALID = (
        example(
            """
            results = []
            for d in delayed_values:
                results.append(d.compute())
        """,
            3,
        ),
        example(
            """
            import dask.dataframe as dd

            totals = {}
            for path in paths:
                df = dd.read_parquet(path)
                totals[path] = df.amount.sum().compute()
        """,
            6,
        ),
        example(
            """
            import dask

            sizes = [dask.compute(part.size)[0] for part in parts]
            means = {k: v.mean().compute() for k, v in groups.items()}
        """,
            3,
            4,
        ),
        example(
            """
            out = {}
            for key in keys:
                out[key] = lazy[key].compute()
        """,
            3,
        ),
        example(
            """
            import dask.dataframe as dd

            df = dd.read_parquet("data/")
            for threshold in thresholds:
                total = df.amount.sum().compute()
                print(threshold, total * threshold)
        """,
            5,
        ),
        example(
            """
            import dask.array as da

            for name in names:
                x = da.from_zarr(store, component=name)
                lo = x.min().compute()
                if lo < 0:
                    print(name, x.max().compute())
        """,
            7,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        own_compute = _defines_compute_method(analysis)
        per_loop: dict[int, list[tuple[CallSite, ast.expr]]] = {}
        flagged: set[int] = set()
        for site in analysis.calls():
            if not site.loops or isinstance(site.loops[-1], ast.While):
                continue
            computed = self._computed(analysis, site, own_compute)
            if computed is None:
                continue
            call_name, exprs = computed
            loop = site.loops[-1]
            if len(exprs) == 1 and not site.node.args:
                per_loop.setdefault(id(loop), []).append((site, exprs[0]))
            used = set().union(*(loops.names_in(e) for e in exprs)) if exprs else set()
            if loops.exits_early(loop) or _persists(loop):
                continue
            elided = _elided(exprs)  # foo.select(...).compute(): what was left out varies
            if not elided and not used & loops.assigned_names(loop):
                if _invariant_collection(analysis, site, loop, exprs) and not _must_run_here(
                    analysis, site, loop, _assigned_by(site.statement)
                ):
                    flagged.add(id(site.node))
                    yield Finding(site.node, {"call": call_name, "what": _SAME_VALUE})
                continue
            if _in_condition(site, loop):
                continue
            targets = _assigned_by(site.statement)
            if targets & used or targets & loops.test_names(loop):
                continue
            if _must_run_here(analysis, site, loop, targets):
                continue
            flagged.add(id(site.node))
            yield Finding(site.node, {"call": call_name, "what": _EACH_ITERATION})
        for sites in per_loop.values():
            yield from _computed_twice(analysis, sites, flagged)

    @staticmethod
    def _computed(
        analysis: Analysis, site: CallSite, own_compute: bool
    ) -> tuple[str, list[ast.expr]] | None:
        call, func = site.node, site.node.func
        if analysis.is_call_to(call, site.scope, "dask.compute"):
            return called_text(call), [*call.args, *(k.value for k in call.keywords)]
        if isinstance(func, ast.Attribute) and func.attr == "compute":
            receiver = func.value
            if call.args or _is_self(receiver):
                return None  # Dask's .compute() takes no positional arguments
            kinds = analysis.kinds(receiver, site.scope)
            if CLIENT in kinds:
                return None
            if own_compute and not kinds & {COLLECTION, DELAYED}:
                return None  # maybe an object of the module's own class with a compute()
            return called_text(call), [receiver]
        return None


_EACH_ITERATION = (
    "runs once per loop iteration, each time a separate graph: the iterations cannot run "
    "in parallel or share intermediate results"
)
_SAME_VALUE = (
    "computes the same value on every iteration (nothing in it depends on the loop): "
    "compute it once before the loop"
)


def _elided(exprs: list[ast.expr]) -> bool:
    """A ``...`` placeholder in the computed expression (a documentation snippet)."""
    return any(
        isinstance(node, ast.Constant) and node.value is Ellipsis
        for expr in exprs
        for node in ast.walk(expr)
    )


def _invariant_collection(
    analysis: Analysis, site: CallSite, loop: Loop, exprs: list[ast.expr]
) -> bool:
    """A known Dask collection or Delayed that no iteration changes."""
    varying = loops.varying_names(loop, exclude=site.node)
    return bool(exprs) and all(
        _is_lazy(analysis, e, site) and not loops.names_in(e) & varying for e in exprs
    )


def _is_lazy(analysis: Analysis, expr: ast.expr, site: CallSite) -> bool:
    """``expr``, or the name it is built from, is a known collection or Delayed."""
    base = _base_name(expr)
    return bool(
        analysis.kinds(expr, site.scope) & {COLLECTION, DELAYED}
        or (base is not None and analysis.kinds(base, site.scope) & {COLLECTION, DELAYED})
    )


def _base_name(expr: ast.expr) -> ast.Name | None:
    while isinstance(expr, ast.Attribute | ast.Subscript | ast.Call):
        expr = expr.func if isinstance(expr, ast.Call) else expr.value
    return expr if isinstance(expr, ast.Name) else None


def _computed_twice(
    analysis: Analysis, sites: list[tuple[CallSite, ast.expr]], flagged: set[int]
) -> Iterator[Finding]:
    """The second ``.compute()`` of the same collection name in one iteration."""
    seen: set[str] = set()
    for site, expr in sorted(sites, key=lambda item: pos_of(item[0].node)):
        base = _base_name(expr)
        if base is None or COLLECTION not in analysis.kinds(base, site.scope):
            continue
        if _checked_by_an_assertion(site):
            continue
        if base.id in seen and id(site.node) not in flagged:
            what = (
                f"computes '{base.id}' again in the same iteration: its work is done twice "
                "(dask.compute(a, b) shares it)"
            )
            yield Finding(site.node, {"call": called_text(site.node), "what": what})
        seen.add(base.id)


_SCOPED_CONTEXTS = ("raises", "warns", "deprecated_call", "Temporary", "tmp", "temp")
"""Context managers whose block must contain the computation: pytest.raises,
tempfile.TemporaryDirectory, dask.utils.tmpfile, tmpdir()..."""
_READS = frozenset({"open", "load", "loads", "exists", "isfile", "listdir", "glob", "scandir"})
_CLUSTER_CHANGES = frozenset(
    {"run", "run_on_scheduler", "restart", "scale", "adapt", "wait_for_workers", "upload_file"}
)
"""``client.run(set_up, size)`` / ``cluster.scale(n)`` in the loop: the iterations are
experiments on a changing cluster, not independent values."""
_CLOCKS = frozenset(
    {"time.time", "time.perf_counter", "time.monotonic", "perf_counter", "default_timer"}
)
_STATEFUL_CONSUMERS = frozenset(
    {"partial_fit", "fit", "train", "update", "write", "writerow", "send", "put", "emit", "push"}
)


def _must_run_here(analysis: Analysis, site: CallSite, loop: Loop, targets: set[str]) -> bool:
    """The iteration needs this result before it ends, so it cannot be batched."""
    loop_start, loop_end = pos_of(loop), end_of(loop)
    if _checked_by_an_assertion(site):
        return True
    if any(loops.names_in(k.value) & loops.assigned_names(loop) for k in site.node.keywords):
        return True  # yd.compute(scheduler=name): each iteration computes another way
    if targets and _read_before(targets, site, loop):
        return True  # centers = X[idx].compute() read at the top of the next iteration
    for item in site.withs:
        context = item.context_expr
        if (
            isinstance(context, ast.Call)
            and loop_start < pos_of(context) < loop_end
            and any(word in _callee(context) for word in _SCOPED_CONTEXTS)
        ):
            return True
    after = end_of(site.node)
    consumed = targets | ({"<this call>"} if not targets else set())
    for node in loops.walk_body(loops.loop_nodes(loop)):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node).rsplit(".", 1)[-1]
        if pos_of(node) > after and (name.startswith("read_") or name in _READS):
            return True  # reads back what the computation wrote
        if name in _STATEFUL_CONSUMERS and _feeds(node, site.node, consumed):
            return True
        if name in _CLUSTER_CHANGES and isinstance(node.func, ast.Attribute):
            return True  # each iteration measures the cluster in a new state
        if _callee(node) in _CLOCKS:
            return True  # the loop times each computation
    return False


def _checked_by_an_assertion(site: CallSite) -> bool:
    """``assert f(x.compute())`` or ``assert_eq(x.compute(), y)``: checked right away."""
    if isinstance(site.statement, ast.Assert):
        return True
    statement = site.statement
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        name = _callee(statement.value).rsplit(".", 1)[-1]
        return name.startswith(("assert", "check")) or name.endswith("_equal")
    return False


def _read_before(targets: set[str], site: CallSite, loop: Loop) -> bool:
    """A name the statement binds is read earlier in the loop body: loop-carried."""
    if not isinstance(loop, ast.For | ast.AsyncFor):
        return False
    here = pos_of(site.statement) if site.statement is not None else pos_of(site.node)
    return any(
        isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and node.id in targets
        and pos_of(node) < here
        for node in loops.walk_body(loop.body)
    )


def _feeds(consumer: ast.Call, computed: ast.Call, names: set[str]) -> bool:
    for arg in (*consumer.args, *(k.value for k in consumer.keywords)):
        if arg is computed or (isinstance(arg, ast.Name) and arg.id in names):
            return True
    return False


def _callee(call: ast.Call) -> str:
    return ast.unparse(call.func)


def _is_self(expr: ast.expr) -> bool:
    return (isinstance(expr, ast.Name) and expr.id in ("self", "cls")) or (
        isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "super"
    )


def _defines_compute_method(analysis: Analysis) -> bool:
    return any(
        scope.name == "compute" and scope.parent is not None and scope.parent.kind == "class"
        for scope in analysis.functions()
    )


def _persists(loop: Loop) -> bool:
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "persist"
        for node in loops.walk_body(loops.loop_nodes(loop))
    )


def _within(node: ast.AST, container: ast.AST) -> bool:
    return pos_of(container) <= pos_of(node) and end_of(node) <= end_of(container)


def _in_condition(site: CallSite, loop: Loop) -> bool:
    statement = site.statement
    if isinstance(statement, ast.If | ast.While | ast.Assert) and _within(
        site.node, statement.test
    ):
        return True
    if not isinstance(loop, ast.For | ast.AsyncFor | ast.While):
        return any(_within(site.node, c) for g in loop.generators for c in g.ifs)
    return False


def _assigned_by(statement: ast.AST | None) -> set[str]:
    """Names the statement binds (``out[key] = ...`` binds none: ``key`` is only read)."""
    if isinstance(statement, ast.Assign):
        targets: list[ast.expr] = list(statement.targets)
    elif isinstance(statement, ast.AugAssign | ast.AnnAssign):
        targets = [statement.target]
    else:
        return set()
    return {name for target in targets for name in _bound_names(target)}


def _bound_names(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Tuple | ast.List):
        return {name for element in target.elts for name in _bound_names(element)}
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return set()
