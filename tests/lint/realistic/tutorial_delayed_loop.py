# Source: dask/dask-tutorial 03_dask.delayed.ipynb @ 3157ed8, code cell 13: a
# decorated function called in a loop, computed once at the end (clean).
from time import sleep

import dask


@dask.delayed
def inc(x):
    sleep(1)
    return x + 1


results = []
for x in data:
    y = inc(x)
    results.append(y)

total = sum(results)
print("Before computing:", total)
result = total.compute()
print("After computing :", result)
