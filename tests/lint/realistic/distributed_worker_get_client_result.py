# Source: dask/distributed distributed/tests/test_worker.py @ 40fcd99a8 (test_get_client):
# the client fixture is called c; the task blocks on .result() without seceding.
from distributed import default_client, get_client
from distributed.utils_test import gen_cluster, inc


@gen_cluster(client=True)
async def test_get_client(c, s, a, b):
    def f(x):
        cc = get_client()
        future = cc.submit(inc, x)
        return future.result()  # expect: RD002

    assert default_client() is c

    future = c.submit(f, 10)
    await future
