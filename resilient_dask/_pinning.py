"""``rc.pin_workers()``: leases that keep adaptive scaling off some workers.

The lease itself lives on the scheduler, in the pins plugin
(:mod:`resilient_dask.pins`); :class:`WorkerPins` takes it when a block starts,
renews it while the block runs, and releases it when the block ends.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from resilient_dask._compat import on_scheduler
from resilient_dask._compat.port import ClientPort
from resilient_dask._config import positive_duration
from resilient_dask._events import emit

logger = logging.getLogger(__name__)


class WorkerPins:
    """Takes, renews and releases the pin leases of one client."""

    def __init__(self, port: ClientPort) -> None:
        self._port = port

    def pin(self, workers: Sequence[str] | None, reason: str, lease: str | float) -> PinnedWorkers:
        return PinnedWorkers(self, workers, reason, positive_duration("lease", lease))

    async def acquire(self, pin: PinnedWorkers) -> None:
        port = self._port
        workers = list(pin.requested) if pin.requested is not None else None
        if workers is None:
            keys = list(port.states())
            who_has = await port.scheduler.who_has(keys=keys) if keys else {}
            workers = sorted({w for holders in who_has.values() for w in holders})
        pin.workers = await port.run_on_scheduler(
            on_scheduler.acquire_pin, pin.id, workers, pin.reason, pin.lease, port.id
        )
        pin.renewer = asyncio.ensure_future(self._renew(pin))
        emit(
            "workers.pinned",
            address=port.address(),
            lease=pin.id,
            workers=pin.workers,
            reason=pin.reason,
        )

    async def _renew(self, pin: PinnedWorkers) -> None:
        port = self._port
        while True:
            await asyncio.sleep(pin.lease / 3)
            try:
                if not await port.run_on_scheduler(on_scheduler.renew_pin, pin.id, pin.lease):
                    await port.run_on_scheduler(
                        on_scheduler.acquire_pin,
                        pin.id,
                        pin.workers,
                        pin.reason,
                        pin.lease,
                        port.id,
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # scheduler away: try again at the next renewal
                logger.debug("resilient_dask: renewing pin %s failed: %r", pin.id, exc)

    async def release(self, pin: PinnedWorkers) -> None:
        if pin.renewer is not None:
            pin.renewer.cancel()
        try:
            await self._port.run_on_scheduler(on_scheduler.release_pin, pin.id)
        finally:
            emit("workers.unpinned", address=self._port.address(), lease=pin.id)

    def enter(self, pin: PinnedWorkers) -> None:
        """Take ``pin``'s lease, blocking (a ``with`` block starts)."""
        self._port.sync(self.acquire, pin)

    def exit(self, pin: PinnedWorkers) -> None:
        """Release ``pin``'s lease, blocking (a ``with`` block ends)."""
        self._port.sync(self.release, pin)


class PinnedWorkers:
    """What ``rc.pin_workers()`` returns: use it as ``with`` / ``async with``.

    ``workers`` holds the pinned worker addresses once the block has started.
    """

    def __init__(
        self, pins: WorkerPins, requested: Sequence[str] | None, reason: str, lease: float
    ) -> None:
        self._pins = pins
        self.requested = (requested,) if isinstance(requested, str) else requested
        self.reason = reason
        self.lease = lease
        self.id = f"pin-{uuid.uuid4().hex}"
        self.workers: list[str] = []
        self.renewer: asyncio.Future[None] | None = None

    def __enter__(self) -> PinnedWorkers:
        self._pins.enter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._pins.exit(self)

    async def __aenter__(self) -> PinnedWorkers:
        await self._pins.acquire(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._pins.release(self)

    def __repr__(self) -> str:
        return f"<PinnedWorkers {self.workers} reason={self.reason!r} lease={self.lease:g}s>"
