"""The demo's workload: a map, a chain and a persisted array, and what they must give.

The same shape runs on both clients, under keys that name the client and the
scene (``demo-rc-1-square-3``, ``demo-plain-2-step-7``), so that the two clients
never share a key on the scheduler: a plain client's result can never be rescued
by the other client's replay, and error messages say whose work was lost.

The expected values are computed here, locally, without Dask, so that the
verification compares what the cluster returned with an independent answer.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Client, Future

#: How long one step of the chain sleeps: long enough for a fault to hit the chain
#: mid-way, short enough for the whole demo to stay well under a minute.
STEP_SECONDS = 0.1


def square(x: int) -> int:
    """The mapped function."""
    return x * x


def step(x: int) -> int:
    """One link of the chain: slow, so that faults land while it runs."""
    time.sleep(STEP_SECONDS)
    return x + 1


@dataclasses.dataclass(frozen=True)
class WorkloadShape:
    """How big each part of the workload is."""

    map_size: int
    chain_length: int
    array_size: int
    array_chunk: int

    def expected(self) -> dict[str, Any]:
        """The values the workload must produce, computed here without Dask."""
        return {
            "map": [i * i for i in range(self.map_size)],
            "chain": self.chain_length,  # each step adds 1, starting from 0
            "array sum": sum(i * i for i in range(self.array_size)),
        }


#: The ResilientClient's workload in each scene.
RESILIENT_SHAPE = WorkloadShape(map_size=24, chain_length=20, array_size=4_000, array_chunk=500)
#: The plain Client's copy: smaller, with a chain as long (it must still run when the fault hits).
PLAIN_SHAPE = WorkloadShape(map_size=8, chain_length=20, array_size=1_000, array_chunk=250)


class ValueNotBack(TimeoutError):
    """A value the demo waited for did not come back by its deadline."""

    def __init__(self, key: Any, timeout: float, status: str | None) -> None:
        super().__init__(f"{key!r} not back within {timeout:g} s (status {status!r})")
        self.key = key


@dataclasses.dataclass
class Workload:
    """The futures of one workload submitted to one client.

    The chain is started separately (:meth:`start_chain`), once the map and the
    array are done, so that a fault can be timed to hit it mid-way however busy
    the machine is.
    """

    client: Client
    tag: str
    shape: WorkloadShape
    mapped: list[Future[Any]]
    array: Any  # a persisted dask array
    chain: list[Future[Any]] = dataclasses.field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"demo-{self.tag}"

    def start_chain(self) -> None:
        """Submit the chain: each step takes the previous one's result."""
        chain = [self.client.submit(step, 0, key=f"{self.prefix}-step-1")]
        for i in range(2, self.shape.chain_length + 1):
            chain.append(self.client.submit(step, chain[-1], key=f"{self.prefix}-step-{i}"))
        self.chain = chain

    def futures(self) -> list[Future[Any]]:
        """Every future the workload holds (the array's chunks included)."""
        from distributed import futures_of

        return [*self.mapped, *self.chain, *futures_of(self.array)]

    def finished(self) -> int:
        """How many of :meth:`futures` have their value on the cluster."""
        return sum(f.status == "finished" for f in self.futures())

    def chain_steps_done(self) -> int:
        return sum(f.status == "finished" for f in self.chain)

    def map_and_array_done(self) -> bool:
        """True once the map and the persisted array are on the cluster."""
        from distributed import futures_of

        return all(f.status == "finished" for f in [*self.mapped, *futures_of(self.array)])

    def values(self, timeout: float) -> dict[str, Any]:
        """Every value, read from the cluster; raises :class:`ValueNotBack` after ``timeout`` s.

        Each read has its own share of one deadline (``gather`` takes no timeout),
        so that a demo can never hang on a value that does not come.
        """
        deadline = time.monotonic() + timeout

        def result(future: Future[Any]) -> Any:
            try:
                return future.result(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                raise ValueNotBack(future.key, timeout, future.status) from None

        return {
            "map": [result(f) for f in self.mapped],
            "chain": result(self.chain[-1]),
            "array sum": int(result(self.client.compute(self.array.sum()))),
        }


def submit(client: Client, tag: str, shape: WorkloadShape) -> Workload:
    """Send the map and the array to ``client``, under keys that start with ``demo-{tag}-``."""
    import dask.array as da
    import numpy as np

    prefix = f"demo-{tag}"
    keys = [f"{prefix}-square-{i}" for i in range(shape.map_size)]
    mapped = client.map(square, range(shape.map_size), key=keys)
    numbers = da.from_array(  # type: ignore[no-untyped-call]
        np.arange(shape.array_size), chunks=shape.array_chunk, name=f"{prefix}-array"
    )
    return Workload(client, tag, shape, list(mapped), client.persist(numbers**2))
