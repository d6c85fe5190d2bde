# Source: dask/dask docs/source/delayed-best-practices.rst @ 817e5ffc1,
# "Don't call dask.delayed on other Dask collections" (the "Don't" column).
import dask
import dask.dataframe as dd

df = dd.read_csv('/path/to/*.csv')

dask.delayed(train)(df)  # expect: RD009
