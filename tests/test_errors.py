"""The error classes of ``resilient_dask.errors``: hierarchy, pickling, what they say."""

from __future__ import annotations

import concurrent.futures
import datetime
import pickle
import re
import time
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from distributed.client import FutureCancelledError
from distributed.protocol import pickle as dask_pickle
from distributed.scheduler import KilledWorker

from resilient_dask import errors
from resilient_dask._translate import translate
from resilient_dask.errors import (
    ClientClosed,
    ErrorContext,
    LineageUnavailable,
    NestedFutureError,
    ResilientDaskError,
    ResubmissionFailed,
    SchedulerConnectionLost,
    SchedulerRestarted,
    SchedulerUnresponsive,
    TaskTimeout,
    WorkerLost,
)

pytestmark = pytest.mark.timeout(20)

ErrorClass = type[ResilientDaskError]

#: Every concrete error the library raises.
ALL_ERRORS: list[ErrorClass] = [
    SchedulerConnectionLost,
    SchedulerRestarted,
    SchedulerUnresponsive,
    WorkerLost,
    LineageUnavailable,
    ResubmissionFailed,
    NestedFutureError,
    TaskTimeout,
    ClientClosed,
]

SCHEDULER = "tcp://10.0.0.5:8786"
WORKER = "tcp://10.0.0.7:40123"
HAPPENED_AT = 1_700_000_000.0
MANY_KEYS = tuple(f"inc-{i:02d}" for i in range(12))

#: A context with every field set, including the details each error type reads.
CONTEXT = ErrorContext(
    scheduler=SCHEDULER,
    keys=("inc-00", "inc-01"),
    happened_at=HAPPENED_AT,
    state="RECONNECTING",
    reconnected=False,
    affected=2,
    unreachable_for=12.0,
    details=(
        ("silent_for", 61.5),
        ("unresponsive_timeout", 60.0),
        ("last_worker", WORKER),
        ("workers", (WORKER,)),
        ("allowed_failures", 3),
        ("reason", "scattered"),
    ),
)

Serializer = tuple[Callable[[object], bytes], Callable[[bytes], object]]
SERIALIZERS: dict[str, Serializer] = {
    "pickle": (pickle.dumps, pickle.loads),
    "distributed.protocol.pickle": (dask_pickle.dumps, dask_pickle.loads),
}

by_name = pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)


def without_age(text: str) -> str:
    """``str(err)`` minus the "(N s ago)" part, which changes as time passes."""
    return re.sub(r"\(\d+\.\d s ago\)", "(… s ago)", text)


def connection_lost(**changes: object) -> SchedulerConnectionLost:
    return SchedulerConnectionLost(CONTEXT.replace(**changes))


# -- hierarchy ---------------------------------------------------------------------


def test_all_errors_lists_every_error_class_of_the_module() -> None:
    """The classes tested here are exactly the concrete errors ``errors.__all__`` exports."""
    exported = {
        name
        for name in errors.__all__
        if isinstance(cls := getattr(errors, name), type)
        and issubclass(cls, ResilientDaskError)
        and cls is not ResilientDaskError
    }
    assert exported == {cls.__name__ for cls in ALL_ERRORS}


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (SchedulerConnectionLost, FutureCancelledError),
        (TaskTimeout, TimeoutError),
        (SchedulerConnectionLost, concurrent.futures.CancelledError),
        (SchedulerRestarted, FutureCancelledError),
        (SchedulerRestarted, concurrent.futures.CancelledError),
        (SchedulerUnresponsive, TimeoutError),
        (WorkerLost, KilledWorker),
        (NestedFutureError, TypeError),
        (ClientClosed, RuntimeError),
        *((cls, ResilientDaskError) for cls in ALL_ERRORS),
        *((cls, Exception) for cls in ALL_ERRORS),
    ],
    ids=lambda c: c.__name__,
)
def test_error_is_an_instance_of_its_bases(cls: ErrorClass, base: type) -> None:
    """Existing ``except`` clauses for distributed's and Python's errors still catch ours."""
    assert isinstance(cls(CONTEXT), base)


# -- pickling ----------------------------------------------------------------------


@by_name
@pytest.mark.parametrize("serializer", SERIALIZERS.values(), ids=list(SERIALIZERS))
def test_pickle_round_trip_keeps_type_context_message_and_text(
    cls: ErrorClass, serializer: Serializer
) -> None:
    """An error survives (un)pickling with its type, context, message, args and text."""
    dumps, loads = serializer
    original = cls(CONTEXT, "custom headline")
    copy = loads(dumps(original))
    assert type(copy) is cls
    assert isinstance(copy, ResilientDaskError)
    assert copy.context == CONTEXT
    assert copy.message == "custom headline"
    assert copy.args == original.args
    assert without_age(str(copy)) == without_age(str(original))


@pytest.mark.parametrize(
    ("cls", "reason"),
    [
        (SchedulerConnectionLost, "scheduler-connection-lost"),
        (SchedulerRestarted, "scheduler-restart"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_pickled_cancellation_keeps_key_and_reason(cls: ErrorClass, reason: str) -> None:
    """FutureCancelledError's ``key`` (the first key) and ``reason`` survive pickling."""
    copy = pickle.loads(pickle.dumps(cls(CONTEXT)))
    assert isinstance(copy, FutureCancelledError)
    assert (copy.key, copy.reason) == ("inc-00", reason)


def test_pickled_worker_lost_keeps_killed_worker_fields() -> None:
    """KilledWorker's ``task``, ``last_worker`` and ``allowed_failures`` survive pickling."""
    copy = pickle.loads(pickle.dumps(WorkerLost(CONTEXT)))
    assert (copy.task, copy.last_worker, copy.allowed_failures) == ("inc-00", WORKER, 3)


# -- what str() says ---------------------------------------------------------------


@by_name
def test_str_names_the_scheduler(cls: ErrorClass) -> None:
    """``str(err)`` names the scheduler address."""
    assert SCHEDULER in str(cls(CONTEXT))


@by_name
def test_str_shows_the_first_keys_and_the_total(cls: ErrorClass) -> None:
    """With more than five keys, ``str(err)`` shows the first five and how many in all."""
    text = str(cls(CONTEXT.replace(keys=MANY_KEYS, affected=None)))
    assert all(repr(key) in text for key in MANY_KEYS[:5])
    assert repr(MANY_KEYS[5]) not in text
    assert "12 in all" in text


@by_name
def test_str_shows_every_key_when_there_are_few(cls: ErrorClass) -> None:
    """Up to five keys are all shown, without a total."""
    text = str(cls(CONTEXT.replace(keys=MANY_KEYS[:3], affected=None)))
    assert all(repr(key) in text for key in MANY_KEYS[:3])
    assert "in all" not in text


@by_name
def test_str_counts_futures_affected_by_the_same_event(cls: ErrorClass) -> None:
    """When one event affected more futures than the keys named, the count is shown."""
    assert "40 futures" in str(cls(CONTEXT.replace(affected=40)))


@by_name
def test_str_says_when_in_utc_and_how_long_ago(cls: ErrorClass) -> None:
    """``str(err)`` gives the wall-clock time in UTC and the seconds since."""
    happened_at = time.time() - 30
    text = str(cls(CONTEXT.replace(happened_at=happened_at)))
    stamp = datetime.datetime.fromtimestamp(happened_at, tz=datetime.UTC)
    assert f"{stamp:%Y-%m-%d %H:%M:%S} UTC" in text
    ago = re.search(r"\((\d+\.\d) s ago\)", text)
    assert ago is not None, text
    assert 30.0 <= float(ago.group(1)) < 60.0


@by_name
def test_str_names_the_connection_state(cls: ErrorClass) -> None:
    """``str(err)`` gives the connection state and whether the client had reconnected."""
    assert "RECONNECTING (not reconnected)" in str(cls(CONTEXT))
    assert "CONNECTED (reconnected)" in str(
        cls(CONTEXT.replace(state="CONNECTED", reconnected=True))
    )


@by_name
def test_str_numbers_the_guidance(cls: ErrorClass) -> None:
    """Every guidance step appears in ``str(err)``, numbered from 1."""
    err = cls(CONTEXT)
    text = str(err)
    assert all(f"  {i}. {step}" in text for i, step in enumerate(err.guidance, 1))
    assert "  1. " in text


@by_name
def test_str_ends_with_the_docs_url(cls: ErrorClass) -> None:
    """The last line of ``str(err)`` is the link to the docs."""
    err = cls(CONTEXT)
    assert str(err).splitlines()[-1].endswith(err.docs_url)


@by_name
def test_str_starts_with_the_message_when_given(cls: ErrorClass) -> None:
    """A specific message replaces the generic summary as the first line."""
    assert str(cls(CONTEXT, "task 'x' lost its input")).splitlines()[0] == "task 'x' lost its input"


@by_name
def test_error_without_context_still_renders(cls: ErrorClass) -> None:
    """An error built without context has a summary, guidance and the docs link."""
    err = cls()
    lines = str(err).splitlines()
    assert lines[0] == cls.summary
    assert "  1. " in str(err)
    assert lines[-1].endswith(err.docs_url)


# -- guidance, docs_url, keys -------------------------------------------------------


@by_name
@pytest.mark.parametrize("context", [CONTEXT, ErrorContext()], ids=["full-context", "no-context"])
def test_guidance_is_a_non_empty_list_of_str(cls: ErrorClass, context: ErrorContext) -> None:
    """``.guidance`` lists concrete next steps as non-empty strings."""
    guidance = cls(context).guidance
    assert isinstance(guidance, list) and guidance
    assert all(isinstance(step, str) and step for step in guidance)


def test_connection_lost_guidance_when_reconnected() -> None:
    """After a reconnect, the guidance says the scheduler is reachable again."""
    guidance = connection_lost(reconnected=True, state="CONNECTED").guidance
    assert "reachable again" in guidance[0]
    assert "unreachable" not in " ".join(guidance)


def test_connection_lost_guidance_when_still_unreachable() -> None:
    """Without a reconnect, the guidance says the scheduler is still unreachable, and since when."""
    guidance = connection_lost(reconnected=False, unreachable_for=42.0).guidance
    assert f"{SCHEDULER} is still unreachable after 42 s" in guidance[0]
    assert "reachable again" not in " ".join(guidance)


def test_connection_lost_guidance_when_unreachable_for_unknown_time() -> None:
    """Without a reconnect or a known outage length, the guidance says it is not reachable yet."""
    guidance = connection_lost(reconnected=False, unreachable_for=None).guidance
    assert f"{SCHEDULER} is not reachable yet" in guidance[0]


def test_connection_lost_guidance_differs_with_reconnection() -> None:
    """Reconnected and not-reconnected errors give different advice."""
    assert connection_lost(reconnected=True).guidance != connection_lost(reconnected=False).guidance


#: The docs page of each error: its class name in kebab case, under docs/errors/.
DOCS_PAGES: dict[ErrorClass, str] = {
    SchedulerConnectionLost: "scheduler-connection-lost.md",
    SchedulerRestarted: "scheduler-restarted.md",
    SchedulerUnresponsive: "scheduler-unresponsive.md",
    WorkerLost: "worker-lost.md",
    LineageUnavailable: "lineage-unavailable.md",
    ResubmissionFailed: "resubmission-failed.md",
    NestedFutureError: "nested-future-error.md",
    TaskTimeout: "task-timeout.md",
    ClientClosed: "client-closed.md",
}


@by_name
def test_docs_url_is_the_page_of_the_class(cls: ErrorClass) -> None:
    """``docs_url`` is the error's own page, docs/errors/<kebab-case-name>.md, on GitHub."""
    url = urlparse(cls(CONTEXT).docs_url)
    assert (url.scheme, url.netloc) == ("https", "github.com")
    assert url.path == f"/resilient-dask/resilient-dask/blob/main/docs/errors/{DOCS_PAGES[cls]}"
    assert url.fragment == ""


def test_docs_pages_are_distinct() -> None:
    """No two errors share a docs page."""
    pages = {cls(CONTEXT).docs_url for cls in ALL_ERRORS}
    assert len(pages) == len(ALL_ERRORS)


@by_name
def test_keys_returns_all_keys(cls: ErrorClass) -> None:
    """``.keys`` has every key, not only those shown in ``str(err)``."""
    assert cls(CONTEXT.replace(keys=MANY_KEYS)).keys == MANY_KEYS


@pytest.mark.parametrize(
    ("deaths", "headline"),
    [
        (1, "A task failed because 1 worker died while running it."),
        (3, "A task failed because 3 workers died while running it."),
        (None, "A task failed because the workers running it died."),
    ],
)
def test_worker_lost_says_how_many_workers_died(deaths: int | None, headline: str) -> None:
    """WorkerLost's first line counts the deaths the scheduler counted, not 'several'."""
    err = WorkerLost(ErrorContext(keys=("f",), details=(("deaths", deaths),)))
    assert str(err).splitlines()[0] == headline


def test_killed_worker_with_no_allowed_failures_becomes_one_death() -> None:
    """KilledWorker(allowed_failures=0) becomes a WorkerLost saying 1 worker died, naming it."""
    err = translate(KilledWorker("f", "tcp://10.0.0.1:1234", allowed_failures=0))
    assert isinstance(err, WorkerLost)
    text = str(err)
    assert text.startswith("A task failed because 1 worker died while running it.")
    assert "tcp://10.0.0.1:1234 died while running it" in text
