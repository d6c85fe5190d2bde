# Source: dask/distributed docs/source/task-launch.rst @ 40fcd99a8, "Submit tasks
# from worker": get_client() then gather without secede, which the page says "can
# deadlock the scheduler if too many tasks request jobs at once".
from distributed import Client, get_client, secede, rejoin


def fib(n):
    if n < 2:
        return n
    client = get_client()
    a_future = client.submit(fib, n - 1)
    b_future = client.submit(fib, n - 2)
    a, b = client.gather([a_future, b_future])  # expect: RD002
    return a + b


if __name__ == "__main__":
    client = Client()
    future = client.submit(fib, 10)
    result = future.result()
    print(result)  # prints "55"
