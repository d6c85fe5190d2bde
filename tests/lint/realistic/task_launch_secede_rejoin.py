# Source: dask/distributed docs/source/task-launch.rst @ 40fcd99a8, the fixed version
# with secede()/rejoin() (clean).
from distributed import get_client, secede, rejoin


def fib(n):
    if n < 2:
        return n
    client = get_client()
    a_future = client.submit(fib, n - 1)
    b_future = client.submit(fib, n - 2)
    secede()
    a, b = client.gather([a_future, b_future])
    rejoin()
    return a + b
