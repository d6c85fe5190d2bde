# Source: https://github.com/dask/distributed/issues/4842 "Wrapped Future.result hangs in
# remote function call": the Future of a worker_client is waited on after the block.
from distributed import worker_client
from distributed.client import Client

c = Client()


def wrapper(func, arg):
    with worker_client() as cm:
        f = cm.submit(func, arg, pure=False)
    return f.result()  # expect: RD013


future_res = c.submit(wrapper, abs, -1, pure=False)
