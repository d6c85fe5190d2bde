"""RD014 delayed-extra-arguments: ``delayed(f, x)`` passes x as the key name, not to f."""

from __future__ import annotations

from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.rules.base import Finding, Rule, example


class DelayedExtraArguments(Rule):
    code = "RD014"
    name = "delayed-extra-arguments"
    severity = "error"
    triggers = ("delayed",)
    summary = "delayed(f, x, ...) passes arguments to delayed() itself instead of to f."
    message = (
        "delayed() got {count} extra positional argument(s): they set delayed's own "
        "name/pure/nout/traverse options and are never passed to the function"
    )
    fix = "write delayed(f)(x, ...) to call f with the arguments"
    explanation = """\
The signature is `dask.delayed(obj, name=None, pure=None, nout=None, traverse=True)`.
`delayed(f, x)` therefore does not call `f(x)`: it wraps `f` itself and silently uses `x`
as the task's *key name* (a second extra argument becomes `pure`, and so on). Computing
the result gives back the function object, or calling it fails for a missing argument.

```python
task = dask.delayed(f)(x, y)          # not dask.delayed(f, x, y)
task = dask.delayed(f, name="load-1")  # options by keyword are fine
```
"""
    VALID = (
        example("""
            import dask

            task = dask.delayed(process)(x, y)
        """),
        example("""
            from dask import delayed

            named = delayed(process, name="process-1", pure=True)
            out = named(1)
        """),
        example("""
            from dask import delayed

            @delayed(nout=2)
            def split(x):
                return x, x
        """),
    )
    INVALID = (
        example(
            """
            import dask

            task = dask.delayed(process, x)
        """,
            3,
        ),
        example(
            """
            from dask import delayed

            parts = [delayed(load, path) for path in paths]
        """,
            3,
        ),
        example(
            """
            from dask import delayed as d

            total = d(add, 1, 2)()
        """,
            3,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            call = site.node
            if len(call.args) > 1 and analysis.is_delayed_call(call, site.scope):
                yield Finding(call, {"count": str(len(call.args) - 1)})
