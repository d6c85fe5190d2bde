# Source: dask/dask docs/source/best-practices.rst @ 817e5ffc1,
# "Avoid very large graphs / embedding large objects", the first (bad) version.
import dask
import pandas


@dask.delayed
def process(a, b):
    ...


df = pandas.read_csv("some-large-file.csv")  # Create large object locally
results = []
for item in L:
    result = process(item, df)  # expect: RD007
    results.append(result)
