# Source: dask/distributed distributed/tests/test_client.py @ 40fcd99a8
# (test_sub_submit_priority): a task gathers a Future it submitted, without seceding.
from distributed import get_client
from distributed.utils_test import gen_cluster, slowinc


@gen_cluster(client=True)
async def test_sub_submit_priority(c, s, a, b):
    def func():
        client = get_client()
        f = client.submit(slowinc, 1, delay=0.5, key="slowinc")
        client.gather(f)  # expect: RD002

    future = c.submit(func, key="f")
    await future
