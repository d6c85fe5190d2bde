"""ResilientClient: a ``distributed.Client`` whose failures are typed and watched.

What it adds to ``distributed.Client``:

* cancellations caused by a lost connection or a scheduler restart become
  :class:`~resilient_dask.errors.SchedulerConnectionLost` /
  :class:`~resilient_dask.errors.SchedulerRestarted` on every path a user meets
  a result by (``result``, ``exception``, ``await``, ``gather``, ``wait``,
  ``as_completed``, ``compute``, ``dask.compute``);
* a heartbeat that notices a frozen scheduler (``rc.connection``), and blocking
  calls that raise :class:`~resilient_dask.errors.SchedulerUnresponsive` instead
  of waiting forever;
* ``rc.guard()`` to translate errors raised by any code in a block.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

from distributed import Client, Future
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError

from resilient_dask import _compat
from resilient_dask._blocking_calls import BlockingCalls
from resilient_dask._cluster_guards import ClusterGuards
from resilient_dask._config import Options
from resilient_dask._events import emit
from resilient_dask._guard import Guard, RetryingGuard
from resilient_dask._lineage_client import Lineage
from resilient_dask._lost_data import LostData
from resilient_dask._notebook import NotebookRepr
from resilient_dask._serialization import unpicklable_argument_error
from resilient_dask._state_machine import ConnectionState, ConnectionStateMachine
from resilient_dask._translate import Incident, IncidentLog, Situation, translate
from resilient_dask.connection import Connection, ConnectionCallback, Subscription
from resilient_dask.errors import (
    ResilientDaskError,
    SchedulerConnectionLost,
    SchedulerRestarted,
)

if TYPE_CHECKING:
    from resilient_dask.retry import RetryPolicy

__all__ = ["ResilientClient", "ResilientFuture"]

logger = logging.getLogger(__name__)

class ResilientFuture(Future):  # type: ignore[type-arg]
    """A ``distributed.Future`` of a :class:`ResilientClient`.

    Behaves exactly like its base class, except that ``exception()`` raises the
    typed cancellation (for example :class:`SchedulerConnectionLost`) of a future
    cancelled by an outage, as ``concurrent.futures.Future.exception()`` raises
    for cancelled futures, instead of returning ``None``.
    """

    def exception(self, timeout: Any = None, **kwargs: Any) -> Any:
        return self.client.sync(self._typed_exception, callback_timeout=timeout, **kwargs)

    async def _typed_exception(self) -> BaseException | None:
        state = _compat.future_state(self)
        assert state is not None
        await state.wait()
        if state.status == "error":
            return state.exception
        if state.status == "cancelled" and isinstance(state.exception, ResilientDaskError):
            raise state.exception
        return None


class ResilientClient(
    BlockingCalls, ClusterGuards, Lineage, NotebookRepr, _compat.ClientHooks, Client
):
    """A drop-in ``distributed.Client`` that survives and explains failures.

    Takes every argument ``distributed.Client`` takes, plus (defaults from
    ``dask.config`` under ``resilient-dask``; keyword arguments win):

    resubmit:
        Replay lineage after reconnecting to a scheduler that lost the keys.
    heartbeat_interval:
        How often the scheduler is probed (``"2s"``).
    heartbeat_timeout:
        A probe slower than this marks the scheduler UNRESPONSIVE (``"5s"``).
    unresponsive_timeout:
        Blocking calls raise SchedulerUnresponsive once the scheduler has not
        answered for this long (``"60s"``).
    scatter_policy:
        ``"raise"`` or ``"keep"`` (keep a client-side copy to re-scatter).
    lineage_limit:
        Bound on remembered recipes: a count, a size, or both.

    Note that ``heartbeat_interval`` here is the resilience probe;
    distributed's own client heartbeat keeps its configured interval
    (``distributed.client.heartbeat``).
    """

    def __init__(
        self,
        address: Any = None,
        *args: Any,
        resubmit: bool | str | None = None,
        resubmit_timeout: str | float | None = None,
        heartbeat_interval: str | float | None = None,
        heartbeat_timeout: str | float | None = None,
        unresponsive_timeout: str | float | None = None,
        scatter_policy: str | None = None,
        lineage_limit: Any = None,
        **kwargs: Any,
    ) -> None:
        if address is None:
            address = kwargs.pop("address_or_cluster", None)
        # Validate everything before anything starts, so bad input leaves nothing behind.
        self.options = Options.resolve(
            resubmit=resubmit,
            resubmit_timeout=resubmit_timeout,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            unresponsive_timeout=unresponsive_timeout,
            scatter_policy=scatter_policy,
            lineage_limit=lineage_limit,
        )
        self._rd_init_lineage(self.options.resubmit, self.options.lineage_limit.count)
        self._rd_machine = ConnectionStateMachine(
            heartbeat_timeout=self.options.heartbeat_timeout,
            unresponsive_timeout=self.options.unresponsive_timeout,
        )
        self.connection = Connection(
            self._rd_machine,
            address=self._rd_address,
            loop=self._rd_asyncio_loop,
        )
        self._rd_incidents = IncidentLog()
        self._rd_lost_data = LostData()
        self._rd_expiry: asyncio.Future[None] | None = None
        self._rd_transition: asyncio.Future[None] | None = None
        self._rd_expiry_handle: asyncio.TimerHandle | None = None
        self._rd_heartbeat_task: asyncio.Task[None] | None = None
        super().__init__(address, *args, **kwargs)  # type: ignore[no-untyped-call]

    # -- public API ---------------------------------------------------------------

    def on_connection_change(self, callback: ConnectionCallback) -> Subscription:
        """Call ``callback(old_state, new_state, detail)`` on every connection transition.

        The callback runs in the client's event loop and must not block. Returns a
        handle whose ``unsubscribe()`` stops the calls.
        """
        return self.connection.subscribe(callback)

    @overload
    def guard(self) -> Guard: ...
    @overload
    def guard(self, retry: RetryPolicy) -> RetryingGuard: ...
    def guard(self, retry: RetryPolicy | None = None) -> Guard | RetryingGuard:
        """Context manager (sync and async) translating errors raised inside the block.

        Errors from any distributed call in the block, including code that uses
        plain ``distributed.Future`` objects or ``dask.compute``, come out as the
        typed errors of :mod:`resilient_dask.errors`.

        With ``retry=`` (a :mod:`resilient_dask.retry` policy) the block is re-run
        on the failures the policy retries, after the client is connected again.
        A with-block cannot run twice, so iterate instead (or decorate a function)::

            for attempt in rc.guard(retry=retry.transient()):
                with attempt:
                    ...
        """
        if retry is None:
            return Guard(self.translate_error)
        return self._rd_retrying_guard(retry)

    def translate_error(
        self, exc: BaseException, keys: Sequence[Any] | None = None
    ) -> BaseException:
        """The typed error for ``exc`` as of now (``exc`` itself if it has none)."""
        return translate(exc, self._rd_situation(), self._rd_incidents, keys)

    def start(self, **kwargs: Any) -> None:
        super().start(**kwargs)  # type: ignore[no-untyped-call]
        if self.loop is not None:
            self.loop.add_callback(self._rd_start_heartbeat)

    def submit(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._rd_adopt(super().submit(func, *args, **kwargs))
        except TypeError as exc:
            candidates = [("the function", func)]
            candidates += [(f"positional argument {i}", a) for i, a in enumerate(args)]
            candidates += [(f"keyword argument {k!r}", v) for k, v in kwargs.items()]
            clear = unpicklable_argument_error(exc, f"submit({_name(func)}, ...)", candidates)
            if clear is None:
                raise
            raise clear from None

    def map(self, func: Any, *iterables: Any, **kwargs: Any) -> Any:
        try:
            return super().map(func, *iterables, **kwargs)
        except TypeError as exc:
            candidates = [("the function", func)]
            candidates += [
                (f"item {j} of iterable {i}", item)
                for i, iterable in enumerate(iterables)
                if isinstance(iterable, (list, tuple))
                for j, item in enumerate(iterable)
            ]
            candidates += [(f"keyword argument {k!r}", v) for k, v in kwargs.items()]
            clear = unpicklable_argument_error(exc, f"map({_name(func)}, ...)", candidates)
            if clear is None:
                raise
            raise clear from None

    # -- heartbeat ------------------------------------------------------------------

    async def _rd_start_heartbeat(self) -> None:
        if self._rd_heartbeat_task is None:
            self._rd_heartbeat_task = asyncio.create_task(self._rd_heartbeat_loop())

    async def _rd_heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        options = self.options
        while self.status not in ("closing", "closed"):
            if self.status == "running" and self.scheduler is not None:
                started = loop.time()
                try:
                    await asyncio.wait_for(self.scheduler.echo(), options.heartbeat_timeout)
                except TimeoutError:
                    self._rd_publish(self._rd_machine.heartbeat_timed_out())
                except (OSError, CommClosedError) as exc:
                    self._rd_publish(self._rd_machine.heartbeat_failed(repr(exc)))
                except asyncio.CancelledError:
                    raise
                except Exception:  # pragma: no cover - never let the probe die silently
                    logger.exception("resilient_dask heartbeat failed")
                else:
                    self._rd_publish(self._rd_machine.heartbeat_answered(loop.time() - started))
                self._rd_arm_expiry()
            await asyncio.sleep(options.heartbeat_interval)

    def _rd_arm_expiry(self) -> None:
        """Wake waiting calls when the unresponsive period runs out."""
        deadline = self._rd_machine.unresponsive_deadline()
        if self._rd_expiry_handle is not None:
            self._rd_expiry_handle.cancel()
            self._rd_expiry_handle = None
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - self._rd_machine.clock.monotonic())
        self._rd_expiry_handle = loop.call_later(delay, self._rd_expire)

    def _rd_expire(self) -> None:
        self._rd_expiry_handle = None
        if not self._rd_machine.unresponsive_expired():
            return
        if self._rd_expiry is not None and not self._rd_expiry.done():
            self._rd_expiry.set_result(None)
        emit(
            "scheduler.unresponsive_timeout",
            address=self._rd_address(),
            silent_for=round(self._rd_machine.silent_for(), 3),
        )

    # -- hooks called by _compat.ClientHooks ---------------------------------------------

    def _rd_connection_lost(self) -> None:
        states = _compat.client_states(self)
        incident = self._rd_incidents.record(
            SchedulerConnectionLost,
            states,
            self._rd_address(),
            "the connection to the scheduler dropped",
        )
        if self._rd_lineage is not None:
            self._rd_park(states, lambda key: incident.error([key]))
            what = "kept for replay" if self._rd_auto_replay else "cancelled (rc.resubmit())"
        else:
            _cancel_with(states, incident)
            what = "cancelled"
        states.clear()
        self._rd_publish(
            self._rd_machine.connection_lost(
                f"scheduler comm closed; {incident.affected} futures {what}"
            ),
            futures_cancelled=incident.affected,
        )

    def _rd_reconnect_finished(self) -> None:
        if self.status != "running":
            return
        replay = self._rd_auto_replay and bool(self._rd_parked)
        self._rd_publish(self._rd_machine.reconnected(resubmitting=replay))
        if replay:
            self._rd_start_replay()

    def _rd_scheduler_restarted(self) -> None:
        states = _compat.client_states(self)
        incident = self._rd_incidents.record(
            SchedulerRestarted, states, self._rd_address(), "the scheduler was restarted"
        )
        _cancel_with(states, incident)
        states.clear()
        if self._rd_lineage is not None:  # restart() forgets every key and refcount
            self._rd_lineage.clear()
            self._rd_parked.clear()
        emit("scheduler.restarted", address=self._rd_address(), futures_cancelled=incident.affected)

    def _rd_keys_cancelled(self, keys: list[Any], reason: str | None, msg: str | None) -> list[Any]:
        """Cancel with typed errors what we can explain; return the rest for upstream."""
        if reason not in ("lost dependencies", "already forgotten") or not self._rd_incidents:
            return keys
        states = _compat.client_states(self)
        remaining = []
        for key in keys:
            state = states.get(key)
            if state is not None and isinstance(state.exception, ResilientDaskError):
                continue  # already failed with its root cause when the graph was sent
            if state is not None and self._rd_auto_replay and key in (self._rd_lineage or ()):
                # Sent while its inputs were being replayed: replay it too, after them.
                self._rd_park({key: states.pop(key)}, lambda k: None)
                if self._rd_replay_task is None or self._rd_replay_task.done():
                    self._rd_start_replay()
                continue
            err = self._rd_root_cause_error(key, [key])
            if state is None or err is None:
                remaining.append(key)
            else:
                _compat.cancel_state(state, err)
        return remaining

    def _rd_lost_dependencies(self, expr: Any) -> list[Any]:
        """Keys a new graph reads that an outage destroyed (only looked for after one)."""
        if not self._rd_incidents:
            return []
        live = _compat.client_states(self)
        return [
            key
            for key in _compat.graph_dependencies(expr)
            if key not in live
            and not self._rd_will_replay(key)
            and self._rd_incidents.cause_of(key) is not None
        ]

    def _rd_new_futures(
        self, futures: dict[Any, Future[Any]], lost: list[Any]
    ) -> dict[Any, Future[Any]]:
        """Adopt new futures; those that read destroyed data fail at once, typed."""
        self._rd_adopt(futures)
        if lost:
            states = _compat.client_states(self)
            for key in futures:
                err = self._rd_root_cause_error(key, lost)
                if err is not None and key in states:
                    _compat.cancel_state(states[key], err)
        return futures

    def _rd_root_cause_error(self, key: Any, lost: list[Any]) -> ResilientDaskError | None:
        """The error of the incident that destroyed ``lost``, told about ``key``."""
        incident = self._rd_incidents.cause_of(lost[0]) or self._rd_incidents.latest
        if incident is None:
            return None
        err = incident.error([key])
        if lost == [key]:
            return err
        shown = ", ".join(repr(str(k)) for k in lost[:3])
        more = f" and {len(lost) - 3} more" if len(lost) > 3 else ""
        verb = "was" if len(lost) == 1 else "were"
        return type(err)(
            err.context,
            f"{str(key)!r} depends on {shown}{more}, which {verb} lost when "
            f"{incident.detail or 'the scheduler state was lost'} "
            f"({err.summary[0].lower()}{err.summary[1:]})",
        )

    def _rd_adopt(self, obj: Any) -> Any:
        return _compat.adopt(obj, ResilientFuture)

    def _rd_closing(self) -> None:
        """Before upstream forgets the address and the futures.

        When the client is giving up reconnecting, what is still pending can never finish.
        """
        self._rd_address()  # remember it for the events and errors that follow
        if self._rd_machine.state is not ConnectionState.RECONNECTING:
            # Closed by the user: futures kept for replay are cancelled like the rest
            # (upstream cancels the states it holds, with no reason).
            for key, state in self._rd_parked.items():
                _compat.cancel_state(state, FutureCancelledError(key, None, "client closed"))
            self._rd_parked.clear()
            return
        states = {**self._rd_parked, **_compat.client_states(self)}
        self._rd_parked.clear()
        if not states:
            return
        incident = self._rd_incidents.record(
            SchedulerConnectionLost, states, self._rd_address(), "the client gave up reconnecting"
        )
        _cancel_with(states, incident)

    def _rd_closed(self) -> None:
        gave_up = self._rd_machine.state is ConnectionState.RECONNECTING
        detail = (
            f"gave up reconnecting after {_compat.reconnect_timeout(self):g} s"
            if gave_up
            else "client closed"
        )
        self._rd_gave_up = gave_up
        self._rd_publish(self._rd_machine.closed(detail))
        if self._rd_heartbeat_task is not None:
            self._rd_heartbeat_task.cancel()
        if self._rd_expiry_handle is not None:
            self._rd_expiry_handle.cancel()

    # -- helpers --------------------------------------------------------------------

    def _rd_publish(self, transition: Any, **fields: Any) -> None:
        if transition is not None:
            self.connection.publish(transition, **fields)
            self._rd_transitioned()
            if transition.state is ConnectionState.UNRESPONSIVE:
                self._rd_arm_expiry()

    def _rd_address(self) -> str | None:
        scheduler = getattr(self, "scheduler", None)
        address = getattr(scheduler, "address", None)
        if address is not None:
            self._rd_last_address = address
        return address or getattr(self, "_rd_last_address", None)

    def _rd_asyncio_loop(self) -> asyncio.AbstractEventLoop | None:
        loop = getattr(self, "loop", None)
        return getattr(loop, "asyncio_loop", None)

    def _rd_situation(self) -> Situation:
        machine = self._rd_machine
        state = machine.state
        connected = machine.is_live or state is ConnectionState.RESUBMITTING
        outage = machine.outage_duration()
        return Situation(
            scheduler=self._rd_address(),
            state=state.name,
            reconnected=(
                state in (ConnectionState.CONNECTED, ConnectionState.RESUBMITTING)
                if any(t.state is ConnectionState.RECONNECTING for t in machine.history)
                else None
            ),
            unreachable_for=outage,
            connected=connected,
            gave_up=getattr(self, "_rd_gave_up", False),
        )


def _cancel_with(states: dict[Any, Any], incident: Incident) -> None:
    """Cancel each state with the incident's typed error for its key."""
    for key, state in states.items():
        _compat.cancel_state(state, incident.error([key]))


def _name(func: Any) -> str:
    return getattr(func, "__name__", None) or type(func).__name__


def _typed_as_completed_result(future: Future[Any], result: BaseException) -> BaseException | None:
    client = future.client
    if isinstance(result, ResilientDaskError) and isinstance(client, ResilientClient):
        return client.translate_error(result, [future.key])
    return None


_compat.install_as_completed_translation(_typed_as_completed_result)
