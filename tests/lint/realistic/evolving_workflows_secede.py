# Source: dask/dask-examples applications/evolving-workflows.ipynb @ 03cfcca, cell 8:
# tasks that submit more work and secede while they wait (clean).
from dask.distributed import Client, get_client, secede, rejoin

client = Client()


def f(fn):
    L = parse_file(fn)
    client = get_client()

    futures = client.map(process_item, L, priority=10)
    secede()
    results = client.gather(futures)
    rejoin()
    return results


futures = client.map(f, filenames, pure=False)
results = client.gather(futures)
