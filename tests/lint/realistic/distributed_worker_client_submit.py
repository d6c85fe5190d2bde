# Source: dask/distributed distributed/tests/test_worker_client.py @ 40fcd99a8
# (test_submit_from_worker): waits inside the worker_client block (clean).
from distributed import worker_client
from distributed.utils_test import double, gen_cluster, inc


@gen_cluster(client=True)
async def test_submit_from_worker(c, s, a, b):
    def func(x):
        with worker_client() as c:
            x = c.submit(inc, x)
            y = c.submit(double, x)
            result = x.result() + y.result()
            return result

    x, y = c.map(func, [10, 20])
    xx, yy = await c.gather([x, y])
