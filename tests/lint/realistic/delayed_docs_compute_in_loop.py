# Source: dask/dask docs/source/delayed-best-practices.rst @ 817e5ffc1,
# "Compute on lots of computation at once" (the "Don't" column).
import dask

results = []
for x in L:
    y = dask.delayed(f)(x)
    results.append(y.compute())  # expect: RD006

results
