# Source: dask/dask docs/source/best-practices.rst @ 817e5ffc1,
# the recommended version: load the large object with delayed (clean).
import dask
import pandas


@dask.delayed
def process(a, b):
    ...


df = dask.delayed(pandas.read_csv)("some-large-file.csv")  # Let Dask build object
results = []
for item in L:
    result = process(item, df)  # include pointer to df in every delayed call
    results.append(result)
