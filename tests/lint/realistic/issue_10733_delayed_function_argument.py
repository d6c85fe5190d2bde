# Source: https://github.com/dask/dask/issues/10733 "Breaking of concurrency when calling
# dask.delayed inside a @dask.delayed-decorated function": a delayed function passed in
# and called four times inside another delayed function runs the calls one by one.
import time

import dask


@dask.delayed
def add(x, y):
    print("Sleeping...")
    time.sleep(2)
    return x + y


@dask.delayed
def do_math(x, y, op):
    results = []
    for _ in range(4):
        results.append(op(x, y))  # expect: RD008
    return results


dask.compute(do_math(1, 2, add))
