# Source: dask/dask docs/source/delayed-best-practices.rst @ 817e5ffc1,
# "Call delayed on the function, not the result" (the "Don't" column).
import dask

out = dask.delayed(f(x, y))  # expect: RD005
