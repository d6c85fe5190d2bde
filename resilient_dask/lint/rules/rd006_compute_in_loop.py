"""RD006 compute-in-loop: ``.compute()`` once per iteration on independent values."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint import loops
from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT
from resilient_dask.lint.rules.base import Finding, Rule, called_text, example
from resilient_dask.lint.scopes import CallSite, Loop, end_of, pos_of


class ComputeInLoop(Rule):
    code = "RD006"
    name = "compute-in-loop"
    severity = "warning"
    triggers = ("compute",)
    summary = (
        "A loop calls .compute() (or dask.compute()) once per iteration on independent values."
    )
    message = (
        "{call} runs once per loop iteration, each time a separate graph: the iterations "
        "cannot run in parallel or share intermediate results"
    )
    fix = "collect the lazy values in the loop and call dask.compute(*values) once after it"
    explanation = """\
Every `.compute()` is a round trip: build a graph, optimise it, send it to the scheduler,
wait for the result. In a loop over independent items the items are processed one after
another, and work they share (reading the same files, a common intermediate) is redone
each time. Collect the lazy values and compute them together:

```python
lazy = [ddf[ddf.year == y].amount.sum() for y in years]
totals = dask.compute(*lazy)        # one graph, shared reads, parallel
```

Not flagged: `while` loops, loops that `break`/`return`/`yield`/`raise`, loops that
`.persist()` (iterative algorithms), results used in a condition inside the loop or fed
into the next iteration, and computations that do not depend on the loop variable.
"""
    VALID = (
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
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            if not site.loops or isinstance(site.loops[-1], ast.While):
                continue
            computed = self._computed(analysis, site)
            if computed is None:
                continue
            call_name, exprs = computed
            loop = site.loops[-1]
            used = set().union(*(loops.names_in(e) for e in exprs)) if exprs else set()
            if not used & loops.assigned_names(loop) or loops.exits_early(loop):
                continue
            if _persists(loop) or _in_condition(site, loop):
                continue
            targets = _assigned_by(site.statement)
            if targets & used or targets & loops.test_names(loop):
                continue
            yield Finding(site.node, {"call": call_name})

    @staticmethod
    def _computed(analysis: Analysis, site: CallSite) -> tuple[str, list[ast.expr]] | None:
        call, func = site.node, site.node.func
        if analysis.is_call_to(call, site.scope, "dask.compute"):
            return called_text(call), [*call.args, *(k.value for k in call.keywords)]
        if isinstance(func, ast.Attribute) and func.attr == "compute":
            if CLIENT in analysis.kinds(func.value, site.scope):
                return None
            return called_text(call), [func.value]
        return None


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
    if isinstance(statement, ast.Assign):
        targets: list[ast.expr] = list(statement.targets)
    elif isinstance(statement, ast.AugAssign | ast.AnnAssign):
        targets = [statement.target]
    else:
        return set()
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
