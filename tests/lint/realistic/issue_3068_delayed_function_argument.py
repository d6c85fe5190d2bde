# Source: https://github.com/dask/dask/issues/3068: g receives the delayed function f as
# an argument; "the running function g will see the un-delayed, concreted version of f".
import dask.delayed


@dask.delayed(pure=True)
def f(x, y=1):
    print('compute f {}'.format((x, y)))
    return x, y


@dask.delayed(pure=True)
def g(x, z, y=1):
    z(x)  # expect: RD008
    z(x)  # expect: RD008
    z(x)  # expect: RD008
    print('compute b {}'.format((x, y, z)))
    return x, y, z(x)  # expect: RD008


f(1).compute()
g(1, f).compute()
