"""The translator: every distributed cancellation reason and exception class has a decision."""

from __future__ import annotations

import importlib
import inspect
import pathlib
import pkgutil
import re

import distributed
import pytest
from distributed.client import CancelledFuturesGroup, FutureCancelledError, FuturesCancelledError
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

from resilient_dask._incidents import IncidentLog
from resilient_dask._translate import (
    CANCELLATION_REASONS,
    EXCEPTION_CLASSES,
    PassThrough,
    Situation,
    translate,
)
from resilient_dask.errors import SchedulerConnectionLost, SchedulerRestarted, WorkerLost

CONNECTED = Situation(scheduler="tcp://127.0.0.1:8786", state="CONNECTED", reconnected=True)
RECONNECTING = Situation(
    scheduler="tcp://127.0.0.1:8786",
    state="RECONNECTING",
    reconnected=False,
    unreachable_for=4.0,
    connected=False,
)


def distributed_exception_classes() -> set[str]:
    """Qualified names of every exception class defined in distributed (tests excluded)."""
    names: set[str] = set()
    for info in pkgutil.walk_packages(distributed.__path__, "distributed."):
        if ".tests" in info.name or info.name.endswith("conftest"):
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:  # optional dependencies (bokeh, ucx, ...) are not installed
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                names.add(f"{obj.__module__}.{obj.__qualname__}")
    return names


def distributed_cancellation_reasons() -> set[str]:
    """Every literal reason distributed's client and scheduler cancel futures with."""
    root = pathlib.Path(distributed.__file__).parent
    source = (root / "client.py").read_text() + (root / "scheduler.py").read_text()
    reasons = set(re.findall(r'cancel\(\s*reason="([^"]+)"', source))
    reasons |= set(re.findall(r'"op": "cancelled-keys",[^}]*"reason": "([^"]+)"', source))
    return reasons | {"unknown"}


def test_every_distributed_exception_class_is_mapped() -> None:
    """A new exception class in distributed fails this test until someone decides about it."""
    unmapped = distributed_exception_classes() - set(EXCEPTION_CLASSES)
    assert not unmapped, f"decide how to translate: {sorted(unmapped)}"


def test_every_cancellation_reason_is_mapped() -> None:
    """A new cancellation reason in distributed fails this test until it is mapped."""
    reasons = distributed_cancellation_reasons()
    assert {"scheduler-connection-lost", "scheduler-restart", "lost dependencies"} <= reasons
    unmapped = reasons - set(CANCELLATION_REASONS)
    assert not unmapped, f"decide how to translate: {sorted(unmapped)}"


def test_mapped_names_still_exist_upstream() -> None:
    """The tables name no class that distributed no longer has."""
    stale = set(EXCEPTION_CLASSES) - distributed_exception_classes()
    assert not stale, f"no longer in distributed: {sorted(stale)}"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("scheduler-connection-lost", SchedulerConnectionLost),
        ("scheduler-restart", SchedulerRestarted),
    ],
)
def test_cancellation_reason_becomes_its_error(reason: str, expected: type) -> None:
    """A plain FutureCancelledError becomes the typed error of its reason, naming its key."""
    typed = translate(FutureCancelledError("inc-1", reason), CONNECTED)
    assert type(typed) is expected
    assert typed.keys == ("inc-1",)  # type: ignore[attr-defined]
    assert typed.context.state == "CONNECTED"  # type: ignore[attr-defined]


def test_user_cancellation_passes_through() -> None:
    """Future.cancel() by the user (no reason, or the user's own) is not an outage."""
    for reason in (None, "because I said so"):
        exc = FutureCancelledError("inc-1", reason)
        assert translate(exc, CONNECTED) is exc


def test_lost_dependencies_name_the_incident_that_lost_them() -> None:
    """'lost dependencies' becomes the error of the incident that destroyed the key."""
    log = IncidentLog()
    log.record(SchedulerRestarted, ["x-1"], "tcp://127.0.0.1:8786", "the scheduler was restarted")
    typed = translate(FutureCancelledError("x-1", "lost dependencies"), CONNECTED, log)
    assert type(typed) is SchedulerRestarted
    without_incident = FutureCancelledError("x-1", "lost dependencies")
    assert translate(without_incident, CONNECTED, IncidentLog()) is without_incident


def test_grouped_cancellations_become_one_error_with_all_keys() -> None:
    """FuturesCancelledError with several keys becomes one typed error carrying them all."""
    errors = [FutureCancelledError(f"k-{i}", "scheduler-connection-lost") for i in range(7)]
    grouped = FuturesCancelledError([CancelledFuturesGroup(errors, "scheduler-connection-lost")])
    typed = translate(grouped, RECONNECTING)
    assert type(typed) is SchedulerConnectionLost
    assert typed.keys == tuple(f"k-{i}" for i in range(7))  # type: ignore[attr-defined]
    assert "(7 in all)" in str(typed)


def test_killed_worker_becomes_worker_lost() -> None:
    """KilledWorker becomes WorkerLost naming the task, the last worker and the attempts."""

    class LastWorker:
        address = "tcp://127.0.0.1:40000"

    typed = translate(KilledWorker("task-1", LastWorker(), 2), CONNECTED)  # type: ignore[arg-type]
    assert isinstance(typed, WorkerLost) and isinstance(typed, KilledWorker)
    assert typed.last_worker == "tcp://127.0.0.1:40000"
    assert "attempts:   3 (allowed-failures=2)" in str(typed)


def test_comm_closed_is_connection_lost_only_while_disconnected() -> None:
    """CommClosedError means the scheduler is gone only if the client has no scheduler."""
    exc = CommClosedError("worker comm closed")
    assert translate(exc, CONNECTED) is exc
    assert type(translate(exc, RECONNECTING)) is SchedulerConnectionLost


def test_pass_through_entries_say_why() -> None:
    """Every pass-through decision carries its reason."""
    for table in (CANCELLATION_REASONS, EXCEPTION_CLASSES):
        for name, target in table.items():
            if isinstance(target, PassThrough):
                assert target.why, name
