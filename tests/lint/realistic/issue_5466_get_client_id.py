# Source: https://github.com/dask/distributed/issues/5466 (its test): tasks that only
# read get_client().id (clean).
from distributed import Client, get_client


def f(x):
    return get_client().id


with Client() as client:
    futures = client.map(f, range(100))
    ids = client.gather(futures)
