# Source: https://github.com/dask/distributed/issues/8790 (its snippet): a client-side
# helper that submits and waits, with a parameter named dask_client (clean).
from typing import Any, Callable

from dask.distributed import Client


def submit_other_func_to_dask(dask_client: Client, other_func: Callable[[], Any]):
    other_func_fut = dask_client.submit(other_func)
    return other_func_fut.result()


def return_1():
    return 1


client = Client(n_workers=1)
assert submit_other_func_to_dask(client, return_1) == 1
