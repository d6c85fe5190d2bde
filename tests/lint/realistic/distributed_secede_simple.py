# Source: dask/distributed distributed/tests/test_client.py @ 40fcd99a8
# (test_secede_simple): the task secedes before waiting (clean).
from distributed import get_client, secede
from distributed.utils_test import gen_cluster, inc


@gen_cluster(client=True, nthreads=[("127.0.0.1", 1)] * 1)
async def test_secede_simple(c, s, a):
    def f():
        client = get_client()
        secede()
        return client.submit(inc, 1).result()

    result = await c.submit(f)
    assert result == 2
