# Source: dask/dask docs/source/delayed-best-practices.rst @ 817e5ffc1,
# "Avoid repeatedly putting large inputs into delayed calls" (the "Don't" column).
import dask
import numpy as np

x = np.array(...)  # some large array

results = [dask.delayed(train)(x, i)  # expect: RD007
           for i in range(1000)]
