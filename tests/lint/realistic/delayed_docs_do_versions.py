# Source: dask/dask docs/source/delayed-best-practices.rst @ 817e5ffc1,
# the "Do" column of the sections above (clean).
import dask
import dask.dataframe as dd
import numpy as np

dask.delayed(f)(x, y)

results = []
for x in L:
    y = dask.delayed(f)(x)
    results.append(y)

results = dask.compute(*results)


def process_all(L):
    result = []
    for x in L:
        y = dask.delayed(f)(x)
        result.append(y)
    return result


df = dd.read_csv('/path/to/*.csv')
df.map_partitions(train)
partitions = df.to_delayed()
delayed_values = [dask.delayed(train)(part)
                  for part in partitions]

x = np.array(...)    # some large array
x = dask.delayed(x)  # delay the data once
results = [dask.delayed(train)(x, i)
           for i in range(1000)]
