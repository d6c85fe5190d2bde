# Source: dask/dask docs/source/best-practices.rst @ 817e5ffc1,
# "Avoid calling compute repeatedly": the pattern, then the fix (clean).
import dask

foo = ...
results = []
for i in range(...):
    results.append(foo.select(...).compute())  # expect: RD006

foo = ...
results = []
for i in range(...):
    results.append(foo.select(...))  # no compute here
results = dask.compute(*results)
