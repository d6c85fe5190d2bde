# Source: dask/distributed docs/source/task-launch.rst @ 40fcd99a8,
# "Connection with context manager" (clean).
from dask.distributed import Client, worker_client


def fib(n):
    if n < 2:
        return n
    with worker_client() as client:
        a_future = client.submit(fib, n - 1)
        b_future = client.submit(fib, n - 2)
        a, b = client.gather([a_future, b_future])
    return a + b


if __name__ == "__main__":
    client = Client()
    future = client.submit(fib, 10)
    result = future.result()
