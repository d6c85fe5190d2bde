# Source: dask/dask docs/source/delayed-best-practices.rst @ 817e5ffc1,
# "Avoid calling delayed within delayed functions" (the "Don't" column).
import dask


@dask.delayed
def process_all(L):
    result = []
    for x in L:
        y = dask.delayed(f)(x)  # expect: RD008
        result.append(y)
    return result
