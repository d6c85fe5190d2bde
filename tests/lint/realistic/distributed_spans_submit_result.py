# Source: dask/distributed distributed/tests/test_spans.py @ 40fcd99a8
# (test_spans_are_visible_from_tasks): a task submits and waits on the result.
import distributed
from distributed.spans import span
from distributed.utils_test import gen_cluster, inc


@gen_cluster(client=True)
async def test_spans_are_visible_from_tasks(c, s, a, b):
    def f():
        client = distributed.get_client()
        with span("bar"):
            return client.submit(inc, 1).result()  # expect: RD002

    with span("foo"):
        assert await c.submit(f) == 2
