# Source: https://github.com/dask/distributed/issues/7746 (the minimal reproducer):
# a task function reads a Future from its closure.
import time
import distributed


if __name__ == "__main__":
    client = distributed.Client(n_workers=1, processes=True, threads_per_worker=2)

    future_one = client.submit(lambda: 1, key="one")

    def add_one(y):
        time.sleep(0.01)
        return future_one.result() + y  # expect: RD003

    fs = client.map(add_one, list(range(5)))
    print(client.gather(fs, errors="skip"))
    fs[0].result()
