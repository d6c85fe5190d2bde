# Source: https://github.com/dask/distributed/issues/449 "mapping partial functions with
# future objects not working": a Future hidden inside functools.partial.
from functools import partial

import numpy as np
from distributed import Executor

ex = Executor("127.0.0.1:8786")


def make_data(shape):
    return np.random.normal(size=shape)


def add(x=None, y=None):
    return x + y


data = ex.submit(make_data, (10, 10))
futures = ex.map(partial(add, y=data), range(5))  # expect: RD010
