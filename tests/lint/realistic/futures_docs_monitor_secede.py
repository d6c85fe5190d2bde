# Source: dask/dask docs/source/futures.rst @ 817e5ffc1: long-running tasks that
# secede, and a task that secedes while it waits and rejoins after (clean).
from dask.distributed import fire_and_forget, get_client, rejoin, secede


def monitor(device):
    client = get_client()
    secede()  # remove this task from the thread pool
    while True:
        data = device.read_data()
        future = client.submit(process, data)
        fire_and_forget(future)


def f(n):  # assume that this runs as a task
    client = get_client()

    secede()  # secede while we wait for results to come back
    futures = client.map(func, range(n))
    results = client.gather(futures)

    rejoin()  # block until a slot is open in the thread pool
    result = analyze(results)
    return result
