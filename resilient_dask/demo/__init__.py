"""``resilient-dask demo``: real processes, real faults, verified values.

The demo starts a real ``dask scheduler`` and workers in subprocesses, runs a
small mixed workload (a map, a chain, a persisted array) through
``ResilientClient(resubmit=True)`` and, side by side, a smaller copy of it through
a plain ``distributed.Client``; it kills and restarts the scheduler, freezes it,
and kills a worker, and prints what each client got.

Modules, in the order the command uses them:

* :mod:`~resilient_dask.demo.command`: the click command (imports nothing heavy);
* :mod:`~resilient_dask.demo.runner`: the cluster, the two clients, the scenes;
* :mod:`~resilient_dask.demo.scenes`: one function per fault;
* :mod:`~resilient_dask.demo.workload`: the tasks and their expected values;
* :mod:`~resilient_dask.demo.observe`: watch a blocking call for a bounded time;
* :mod:`~resilient_dask.demo.verify`: compare values with the expected ones;
* :mod:`~resilient_dask.demo.render`: progress lines and the summary.
"""
