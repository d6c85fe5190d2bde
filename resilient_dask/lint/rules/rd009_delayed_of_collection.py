"""RD009 delayed-of-collection: a Dask collection is wrapped in or passed to delayed."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import COLLECTION, DELAYED_FN
from resilient_dask.lint.rules.base import Finding, Rule, example


class DelayedOfCollection(Rule):
    code = "RD009"
    name = "delayed-of-collection"
    severity = "warning"
    triggers = ("delayed",)
    summary = "A dask array/dataframe/bag is wrapped in delayed() or passed to a delayed function."
    message = (
        "{what} the Dask collection '{collection}': the whole collection is computed into one "
        "in-memory object and handed to a single task"
    )
    fix = "use {collection}.to_delayed() (one Delayed per partition) or map_partitions/map_blocks"
    explanation = """\
`dask.delayed(ddf)` or `delayed(f)(ddf)` on a Dask array, dataframe or bag turns the whole
distributed collection into one concrete NumPy array / pandas DataFrame / list inside a
single task. All partitions travel to one worker, which may run out of memory, and the
function gets no parallelism.

Lazy scalar reductions (`ddf.x.sum()`, `arr.mean()` without an axis) are small and are not
flagged, nor are functions that need the whole (small) array in one piece on purpose:
linear algebra (`delayed(svd)(a)`) and the methods of a `scipy.stats` distribution turning
a statistic into probabilities (`delayed(stats.t.sf)(t, df)`). Work partition by partition instead:

```python
parts = ddf.to_delayed()                      # one Delayed per partition
results = [dask.delayed(process)(p) for p in parts]
# or simply
result = ddf.map_partitions(process)
```
"""
    VALID = (
        example("""
            import dask.array as da
            from dask import delayed
            from scipy.stats import distributions

            def ttest_finish(df, t):
                prob = delayed(distributions.t.sf)(da.absolute(t), df) * 2
                return t, prob
        """),
        example("""
            import dask.array as da
            from dask import delayed
            from scipy.linalg import svd

            gram = da.dot(x.T, x)
            u, s, v = delayed(svd, pure=True, nout=3)(gram)
            u = da.from_delayed(u, (k, k), gram.dtype)
        """),
        example("""
            import dask
            import dask.array as da

            x = load_block(path)
            x = da.from_delayed(dask.delayed(normalise)(x), shape=(100,), dtype=float)
        """),
        example("""
            import dask
            import dask.dataframe as dd

            ddf = dd.read_parquet("data/")
            results = [dask.delayed(process)(p) for p in ddf.to_delayed()]
            dask.compute(*results)
        """),
        example("""
            import dask.array as da
            from dask import delayed

            x = da.ones((1000, 1000), chunks=100)
            y = x.map_blocks(process)
            total = delayed(sum)([1, 2, 3])
        """),
        example("""
            import dask
            import pandas as pd

            df = pd.read_csv("small.csv")
            out = dask.delayed(process)(df)
        """),
        example("""
            import dask
            import dask.dataframe as dd

            @dask.delayed
            def summarise(total, count):
                return total / count

            ddf = dd.read_csv("data-*.csv")
            mean = summarise(ddf.amount.sum(), ddf.amount.count())
        """),
    )
    INVALID = (
        example(
            """
            import dask
            import dask.dataframe as dd

            ddf = dd.read_csv("data-*.csv")
            out = dask.delayed(ddf)
        """,
            5,
        ),
        example(
            """
            import dask.array as da
            from dask import delayed

            x = da.random.random((10000, 10000), chunks=1000)
            y = (x + 1).T
            z = delayed(process)(y)
        """,
            6,
        ),
        example(
            """
            import dask
            import dask.bag as db

            @dask.delayed
            def count(items):
                return len(items)

            b = db.from_sequence(range(1000)).map(str)
            n = count(b)
        """,
            9,
        ),
    )

    def check(self, analysis: Analysis) -> Iterator[Finding]:
        for site in analysis.calls():
            call, scope = site.node, site.scope
            if analysis.is_delayed_call(call, scope):
                what, args = "delayed() wraps", call.args[:1]
            elif not isinstance(call.func, ast.Call | ast.Name | ast.Attribute) or (
                DELAYED_FN not in analysis.kinds(call.func, scope)
            ):
                continue
            else:
                if _needs_the_whole_array(call.func):
                    continue  # delayed(svd)(a), delayed(dist.sf)(t): one task, on purpose
                what = "a delayed function receives"
                args = [*call.args, *(k.value for k in call.keywords)]
            for arg in args:
                if COLLECTION in analysis.kinds(arg, scope):
                    name = ast.unparse(arg) if len(ast.unparse(arg)) <= 40 else "collection"
                    yield Finding(call, {"what": what, "collection": name})
                    break


_WHOLE_ARRAY_FUNCTIONS = frozenset(
    "svd eig eigh eigvals eigvalsh inv pinv solve lstsq qr cholesky det slogdet expm".split()
)
"""Linear algebra that needs the whole matrix in one piece: handing it a (small) collection
through delayed is the point, not a mistake."""


_DISTRIBUTION_METHODS = frozenset("sf isf cdf ppf pdf pmf logsf logcdf logpdf logpmf".split())
"""Methods of a ``scipy.stats`` distribution: they turn a test statistic (a reduction's
small result) into probabilities, as ``dask.array.stats`` does with
``delayed(distributions.t.sf)(t, df)``."""


def _needs_the_whole_array(func: ast.expr) -> bool:
    if isinstance(func, ast.Call) and func.args:  # delayed(svd, nout=3)(...)
        func = func.args[0]
    if isinstance(func, ast.Attribute):
        return func.attr in _WHOLE_ARRAY_FUNCTIONS or func.attr in _DISTRIBUTION_METHODS
    return getattr(func, "id", "") in _WHOLE_ARRAY_FUNCTIONS
