# Source: https://github.com/dask/distributed/issues/449, the maintainer's answer:
# pass the Future as a keyword of map, or submit with it (clean).
import numpy as np
from distributed import Client

client = Client()


def make_data(shape):
    return np.random.normal(size=shape)


def add(x=None, y=None):
    return x + y


data = client.submit(make_data, (10, 10))
futures = client.map(add, range(5), y=data)
more = [client.submit(add, data, i) for i in range(5)]
