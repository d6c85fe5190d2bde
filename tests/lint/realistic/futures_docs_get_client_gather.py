# Source: dask/dask docs/source/futures.rst @ 817e5ffc1, "Submit Tasks from Tasks": a
# task gathers through get_client() without secede(); the page warns it "is possible
# to deadlock the system".
from dask.distributed import get_client


def my_function(x):
    ...

    # Get locally created client
    client = get_client()

    # Do normal client operations, asking cluster for computation
    a = client.submit(...)
    b = client.submit(...)
    a, b = client.gather([a, b])  # expect: RD002

    return a + b
