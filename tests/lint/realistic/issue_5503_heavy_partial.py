# Source: https://github.com/dask/dask/issues/5503 "Distributing heavy functions via
# closures": a partial holding a large object, mapped over 100 inputs (21 s); scattering
# it with broadcast=True took 0.97 s.
from functools import partial

import numpy as np
from dask.distributed import Client

client = Client()


class Heavy():
    def __init__(self):
        self.state = np.arange(1000000)

    def __call__(self, arg):
        return np.sum(self.state * arg)


heavy = Heavy()


def dosomething(arg, func):
    return func(arg)


closure = partial(dosomething, func=heavy)
out = client.map(closure, np.random.normal(size=100))  # expect: RD007
sum(f.result() for f in out)
