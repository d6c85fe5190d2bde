"""RD011 identical-submit-in-loop: the same pure submit repeated, which Dask runs once."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint import loops
from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import CLIENT_WORDS
from resilient_dask.lint.rules.base import Finding, Rule, called_text, example


class IdenticalSubmitInLoop(Rule):
    code = "RD011"
    name = "identical-submit-in-loop"
    severity = "warning"
    triggers = CLIENT_WORDS
    summary = "A loop submits the same function with the same arguments without pure=False."
    message = (
        "{submit}({function}, ...) has the same function and arguments on every "
        "iteration; with the default pure=True they share one key, so Dask runs it once and "
        "hands every iteration the same result"
    )
    fix = "pass pure=False (each call is a new task) or give each call a different key="
    explanation = """\
`client.submit` assumes functions are pure: the task key is a hash of the function and its
arguments. Submitting the same call several times therefore yields the *same* key, and
while the first Future is alive Dask hands back its result instead of running the function
again. For random sampling, simulations, or anything with side effects, every iteration
silently gets the first result.

```python
futures = [client.submit(simulate, pure=False) for _ in range(100)]
```
"""
    VALID = (
        example("""
            from dask.distributed import Client

            client = Client()
            futures = [client.submit(simulate, pure=False) for _ in range(100)]
            seeds = [client.submit(simulate, seed) for seed in range(100)]
        """),
        example("""
            from dask.distributed import Client

            client = Client()
            futures = []
            for i in range(10):
                futures.append(client.submit(sample, size=1000, key=f"sample-{i}"))
        """),
        example("""
            from dask.distributed import Client

            client = Client()
            state = []
            while len(state) < 5:
                state.append(client.submit(step, state).result())
            for _ in range(3):
                client.submit(ping).result()
        """),
    )
    INVALID = (
        example(
            """
            from dask.distributed import Client

            client = Client()
            futures = [client.submit(simulate) for _ in range(100)]
        """,
            4,
        ),
        example(
            """
            import numpy as np
            from dask.distributed import Client

            client = Client()
            samples = []
            for i in range(10):
                samples.append(client.submit(np.random.random, 1000))
        """,
            7,
        ),
        example(
            """
            from dask.distributed import get_client

            submit = get_client().submit
            runs = {}
            for name in names:
                runs[name] = submit(train, config, epochs=5)
        """,
            6,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            call = site.node
            if not site.loops or analysis.client_method(call, site.scope) != "submit":
                continue
            if any(k.arg in ("pure", "key") or k.arg is None for k in call.keywords):
                continue
            if not call.args or isinstance(site.parent, ast.Attribute):
                continue  # fut.result() right away: nothing is kept
            if isinstance(site.statement, ast.Expr) and site.statement.value is call:
                continue
            varying = loops.varying_names(site.loops[-1], exclude=call)
            values = [*call.args, *(k.value for k in call.keywords)]
            if all(_invariant(v, varying) for v in values):
                function = ast.unparse(call.args[0])
                submit = called_text(call)[:-2]
                yield Finding(call, {"function": function[:40], "submit": submit})


def _invariant(expr: ast.expr, varying: set[str]) -> bool:
    """Whether ``expr`` certainly has the same value on every iteration."""
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        return expr.id not in varying
    if isinstance(expr, ast.Attribute):
        return _invariant(expr.value, varying)
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return all(_invariant(e, varying) for e in expr.elts)
    if isinstance(expr, ast.UnaryOp):
        return _invariant(expr.operand, varying)
    if isinstance(expr, ast.BinOp):
        return _invariant(expr.left, varying) and _invariant(expr.right, varying)
    if isinstance(expr, ast.Lambda):
        return not loops.names_in(expr) & varying
    return False
