"""The chaos soak's runner: real processes, a seeded fault schedule, a user reading results.

:func:`run_soak` starts a :class:`~resilient_dask.testing.SubprocessCluster`
(nanny-managed workers), a :class:`~resilient_dask.testing.TcpProxy` in front of its
scheduler (so that a cut hits only the client's connection) and a
``ResilientClient(resubmit=True)`` through the proxy. For each fault of the plan
it submits that fault's wave of jobs, waits the fault's gap and injects the fault,
so that faults hit work in flight, work held in memory and replays in progress.

Meanwhile a second thread plays the user: it gathers results as they come, as a
person at a notebook would, and records each future's first outcome. It releases
what it has read, except jobs a later job reads: those it holds to the end and
reads again after the last fault. A blocking call that raises
``SchedulerUnresponsive`` is followed as its guidance says (wait until the
scheduler answers, call again); a future that fails with a typed error is re-run
once at the end, and that outcome is counted separately ("after guidance").

Each freeze also carries a probe: a blocking ``result()`` made while the scheduler
is stopped. A freeze shorter than ``unresponsive_timeout`` must not interrupt it; a
longer one must raise ``SchedulerUnresponsive``, after which the value arrives.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
import threading
import time
from collections.abc import Callable
from typing import Any

import dask.array as da
from _soak_plan import (
    PRIME,
    JobSpec,
    Outcome,
    Plan,
    ProbeResult,
    Record,
    SoakConfig,
    SoakReport,
    classify_error,
    combine,
    inner_nodes,
    plan,
    same,
    step,
    weighted_total,
)
from dask.core import flatten
from distributed import Future, futures_of

from resilient_dask import ConnectionState, ResilientClient, ResilientDaskError
from resilient_dask.errors import SchedulerUnresponsive
from resilient_dask.testing import SubprocessCluster, TcpProxy

CONNECTED = ConnectionState.CONNECTED
#: How many examples of each kind of failure the report quotes.
EXAMPLES = 4


@dataclasses.dataclass
class Running:
    """A submitted job: its futures (dropped once read, unless held) and their records."""

    spec: JobSpec
    futures: list[Future[Any]]
    collection: Any
    records: list[Record]


def submit_job(
    rc: ResilientClient, spec: JobSpec, source: Running | None, *, fresh: bool = False
) -> tuple[list[Future[Any]], Any]:
    """Submit ``spec``; return its futures (one per expected value) and any persisted array.

    ``fresh`` (a re-run after a typed error) computes the same values under new keys.
    """
    n = len(spec.inputs)
    if spec.shape == "submit":
        return [rc.submit(step, x, spec.salt, pure=False) for x in spec.inputs], None
    if spec.shape == "map":
        return rc.map(step, list(spec.inputs), [spec.salt] * n, pure=False), None
    if spec.shape == "chain":
        links = [rc.submit(step, spec.inputs[0], spec.salt, spec.delay, pure=False)]
        for link_salt in spec.inputs[1:]:
            links.append(rc.submit(step, links[-1], link_salt, spec.delay, pure=False))
        return links, None
    if spec.shape == "tree":
        leaves = rc.map(step, list(spec.inputs), [spec.salt] * n, pure=False)
        inner = inner_nodes(leaves, lambda a, b: rc.submit(combine, a, b, pure=False))
        return [*leaves, *inner], None
    if spec.shape == "array":
        start, chunks, chunk = spec.inputs
        array = da.arange(start, start + chunks * chunk, chunks=chunk, dtype="int64")
        persisted = rc.persist(array + 0 if fresh else array)
        by_key = {f.key: f for f in futures_of(persisted)}
        blocks = [by_key[key] for key in flatten(persisted.__dask_keys__())]
        return [*blocks, rc.compute(persisted.sum())], persisted
    assert source is not None, f"job {spec.id} ({spec.shape}) needs its source job"
    if spec.shape == "join":
        return [rc.submit(weighted_total, source.futures, pure=False)], None
    reduced = source.collection * 3 + 1
    return [rc.compute((reduced + 0 if fresh else reduced).sum())], None


def start_job(rc: ResilientClient, spec: JobSpec, source: Running | None) -> Running:
    futures, collection = submit_job(rc, spec, source)
    return Running(spec, futures, collection, [Record(spec.id) for _ in spec.expected])


def read_done(future: Future[Any], expected: Any) -> tuple[Outcome | None, BaseException | None]:
    """The outcome of a finished future, and its error if it raised one.

    ``(None, None)`` if reading it was cut short by an unresponsive scheduler.
    """
    try:
        value = future.result(timeout=30)
    except SchedulerUnresponsive:
        return None, None
    except BaseException as exc:
        return classify_error(exc), exc
    return (Outcome.CORRECT if same(value, expected) else Outcome.WRONG), None


class User(threading.Thread):
    """Reads every job's results as they come, holding only what later jobs read."""

    def __init__(self, rc: ResilientClient, config: SoakConfig) -> None:
        super().__init__(name="soak-user", daemon=True)
        self.rc = rc
        self.config = config
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._pending: list[Running] = []
        self._submitted_all = False
        self._stopped = threading.Event()
        self._in_call = False
        self.jobs: list[Running] = []
        self.calls: collections.Counter[str] = collections.Counter()
        #: Errors futures raised, and errors blocking calls raised, by type.
        self.errors: collections.Counter[str] = collections.Counter()
        self.call_errors: collections.Counter[str] = collections.Counter()
        self._quoted: collections.Counter[str] = collections.Counter()
        self.examples: list[str] = []
        self.reruns: dict[int, Running] = {}
        self.failure: BaseException | None = None

    # -- called by the driver ------------------------------------------------------------

    def add(self, job: Running) -> None:
        with self._work:
            self.jobs.append(job)
            self._pending.append(job)
            self._work.notify()

    def finish_submitting(self) -> None:
        with self._work:
            self._submitted_all = True
            self._work.notify()

    def stop(self) -> bool:
        """Stop counting; return whether a blocking call was still waiting (a hang)."""
        with self._work:
            self._stopped.set()
            self._work.notify()
            return self._in_call and self.is_alive()

    # -- the user's day --------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._read_until_done(self._next_new_batch, "first")
            held = [job for job in self.jobs if job.spec.held]
            self._read_until_done(_batches_of(held), "final_read")
            self._follow_guidance()
        except BaseException as exc:  # a bug in the soak itself: reported, never counted
            self.failure = exc

    def _next_new_batch(self) -> list[Running] | None:
        with self._work:
            while not (self._pending or self._submitted_all or self._stopped.is_set()):
                self._work.wait()
            batch, self._pending = self._pending, []
            return batch or None

    def _read_until_done(self, next_batch: Callable[[], list[Running] | None], field: str) -> None:
        retry: list[Running] = []
        while not self._stopped.is_set():
            batch = retry or next_batch()
            if not batch:
                return
            retry = self._read(batch, field)
            if retry:  # a call was cut short: do as the error says, then read the rest again
                self._wait_for_scheduler()

    def _read(self, batch: list[Running], field: str) -> list[Running]:
        """Gather what is unread in ``batch``; record outcomes in ``field``; return the
        jobs with futures still unread."""
        todo = [
            (job, i) for job in batch for i, r in enumerate(job.records)
            if getattr(r, field) is None
        ]  # fmt: skip
        values = self._call(lambda: self.rc.gather([job.futures[i] for job, i in todo]))
        for n, (job, i) in enumerate(todo):
            expected = job.spec.expected[i]
            if values is not None:
                right = same(values[n], expected)
                outcome: Outcome | None = Outcome.CORRECT if right else Outcome.WRONG
                if not right:
                    self._quote(
                        f"wrong value: job {job.spec.id} ({job.spec.shape}) future {i} "
                        f"{job.futures[i].key!r} ({field}): got {values[n]!r}, "
                        f"expected {expected!r}"
                    )
            elif job.futures[i].done():  # the call failed: read each finished future alone
                outcome, exc = read_done(job.futures[i], expected)
                if exc is not None:
                    self._note(exc, self.errors)
            else:
                outcome = None
            self._set(job.records[i], field, outcome)
        unread = [job for job in batch if any(getattr(r, field) is None for r in job.records)]
        if field == "first":
            for job in batch:
                if job not in unread and not job.spec.held:
                    job.futures, job.collection = [], None  # the user lets go of what it read
        return unread

    def _follow_guidance(self) -> None:
        """Re-run, once, every job a typed error hit (what each error's guidance says)."""
        hit = [
            job for job in self.jobs
            if any(r.counted(job.spec.held) is Outcome.TYPED for r in job.records)
        ]  # fmt: skip
        for job in hit:
            if self._stopped.is_set():
                return
            self._wait_for_scheduler()
            source = None
            if job.spec.source is not None:
                source = self.reruns.get(job.spec.source) or self.jobs[job.spec.source]
            futures, collection = submit_job(self.rc, job.spec, source, fresh=True)
            rerun = Running(job.spec, futures, collection, job.records)
            self.reruns[job.spec.id] = rerun
            self._read_until_done(_batches_of([rerun]), "after_guidance")

    # -- helpers -------------------------------------------------------------------------------

    def _call(self, gather: Callable[[], list[Any]]) -> list[Any] | None:
        """One blocking call, counted by how it ended; its values, or None if it raised."""
        with self._lock:
            self._in_call = True
        try:
            values = gather()
        except BaseException as exc:
            self._count_call(type(exc).__name__ if classify_error(exc) is Outcome.TYPED
                             else f"untyped {type(exc).__name__}", exc)  # fmt: skip
            return None
        else:
            self._count_call("returned")
            return values
        finally:
            with self._lock:
                self._in_call = False

    def _count_call(self, how: str, exc: BaseException | None = None) -> None:
        with self._lock:
            if self._stopped.is_set():
                return
            self.calls[how] += 1
        if exc is not None:
            self._note(exc, self.call_errors)

    def _set(self, record: Record, field: str, outcome: Outcome | None) -> None:
        with self._lock:
            if self._stopped.is_set() or outcome is None or getattr(record, field) is not None:
                return
            setattr(record, field, outcome)

    def _note(self, exc: BaseException, counter: collections.Counter[str]) -> None:
        """Count an error by type; quote the first of each type in the report."""
        name = type(exc).__name__
        with self._lock:
            counter[name] += 1
        self._quote(f"{name}: " + " | ".join(str(exc).splitlines()[:4]), kind=name)

    def _quote(self, text: str, kind: str = "wrong value") -> None:
        with self._lock:
            if self._quoted[kind] < EXAMPLES:
                self._quoted[kind] += 1
                self.examples.append(text)

    def _wait_for_scheduler(self) -> None:
        """What SchedulerUnresponsive says: wait until the scheduler answers again."""
        try:
            self.rc.connection.wait_for(CONNECTED, timeout=self.config.hang_after)
        except TimeoutError:
            pass  # the next call says what is wrong
        self._stopped.wait(0.1)  # never spin on a call that fails at once


def _batches_of(jobs: list[Running]) -> Callable[[], list[Running] | None]:
    """A batch source that yields ``jobs`` once."""
    remaining = [list(jobs)]
    return lambda: remaining.pop() if remaining and remaining[0] else None


# -- faults ----------------------------------------------------------------------------------


def inject(
    fault_kind: str,
    cluster: SubprocessCluster,
    proxy: TcpProxy,
    victim: int,
) -> None:
    """Inject one fault that needs no probe (see :func:`freeze_with_probe` for freezes)."""
    if fault_kind == "restart":
        cluster.restart_scheduler(respawn_workers=True)
    elif fault_kind == "worker-kill":
        alive = [i for i, w in enumerate(cluster.workers) if w.alive]
        cluster.kill_worker(alive[victim % len(alive)])
        cluster.respawn_workers()  # keep capacity, as an orchestrator would
    elif fault_kind == "cut":
        proxy.cut()
    else:
        raise ValueError(f"unknown fault kind {fault_kind!r}")


def freeze_with_probe(
    index: int, duration: float, cluster: SubprocessCluster, rc: ResilientClient, config: SoakConfig
) -> ProbeResult:
    """SIGSTOP the scheduler for ``duration`` while a ``result()`` call waits on it.

    The freeze starts from a CONNECTED client (a freeze during reconnection looks like
    the outage it interrupts, and is covered by the other faults).
    """
    try:
        rc.connection.wait_for(CONNECTED, timeout=config.hang_after)
    except TimeoutError:  # the client never recovered from the fault before: a hang
        return ProbeResult(index, duration, "hang", Outcome.HANG)
    x, salt = PRIME + index, index
    probe = rc.submit(step, x, salt, 0.5, pure=False)  # cannot finish before the freeze
    bound = duration + config.unresponsive_timeout + config.hang_after
    cluster.freeze_scheduler()
    thaw = threading.Timer(duration, cluster.thaw_scheduler)
    thaw.start()
    try:
        first, value = _blocking_result(probe, bound)
        if first == "SchedulerUnresponsive":  # its guidance: wait for the scheduler, call again
            rc.connection.wait_for(CONNECTED, timeout=bound)
            second, value = _blocking_result(probe, bound)
            final = _probe_outcome(second, value, step(x, salt))
        else:
            final = _probe_outcome(first, value, step(x, salt))
    finally:
        thaw.join()
    return ProbeResult(index, duration, first, final)


def _blocking_result(future: Future[Any], bound: float) -> tuple[str, Any]:
    try:
        return "returned", future.result(timeout=bound)
    except ResilientDaskError as exc:
        return type(exc).__name__, exc
    except TimeoutError:  # our own bound ran out: the call hung
        return "hang", None
    except Exception as exc:
        return f"untyped {type(exc).__name__}", exc


def _probe_outcome(how: str, value: Any, expected: int) -> Outcome:
    if how == "returned":
        return Outcome.CORRECT if same(value, expected) else Outcome.WRONG
    if how == "hang":
        return Outcome.HANG
    return classify_error(value)


# -- the run ------------------------------------------------------------------------------


def run_soak(
    config: SoakConfig,
    out: Callable[[str], None] = print,
    logs: pathlib.Path | None = None,
) -> SoakReport:
    """Run the soak described by ``config``; ``out`` gets the schedule and progress lines.

    ``logs``, if given, receives the output of every scheduler and worker process.
    """
    the_plan = plan(config)
    out(the_plan.describe())
    started = time.monotonic()
    with (
        SubprocessCluster(n_workers=config.workers) as cluster,
        TcpProxy.to(cluster.scheduler_address) as proxy,
    ):
        rc = ResilientClient(
            proxy.address,
            resubmit=True,
            probe_interval=config.probe_interval,
            probe_timeout=config.probe_timeout,
            unresponsive_timeout=config.unresponsive_timeout,
            resubmit_timeout=config.resubmit_timeout,
            set_as_default=False,
        )
        user = User(rc, config)
        try:
            user.start()
            probes = _drive(the_plan, cluster, proxy, rc, user, started, out)
            user.finish_submitting()
            user.join(config.hang_after)
            hung_call = user.stop()
            _settle(user)
            transitions = collections.Counter(t.state.name for t in rc.connection.history)
        finally:
            rc.close(timeout=10)
            user.join(10)
            if logs is not None:
                logs.write_text(cluster.logs())
    if user.failure is not None:
        raise RuntimeError("the soak's user thread failed") from user.failure
    if hung_call:
        user.calls["hang"] += 1
    first = collections.Counter(r.counted(j.spec.held) for j in user.jobs for r in j.records)
    after = collections.Counter(
        r.counted_after_guidance(j.spec.held) for j in user.jobs for r in j.records
    )
    return SoakReport(
        the_plan, first, after, user.errors, user.calls, probes, transitions,
        time.monotonic() - started, user.examples,
    )  # fmt: skip


def _drive(
    the_plan: Plan,
    cluster: SubprocessCluster,
    proxy: TcpProxy,
    rc: ResilientClient,
    user: User,
    started: float,
    out: Callable[[str], None],
) -> list[ProbeResult]:
    """Submit each wave, wait its gap, inject its fault; return the freeze probes."""
    by_id: dict[int, Running] = {}
    probes = []
    for wave in range(the_plan.waves):
        for spec in (job for job in the_plan.jobs if job.wave == wave):
            source = by_id.get(spec.source) if spec.source is not None else None
            by_id[spec.id] = job = start_job(rc, spec, source)
            user.add(job)
        if wave >= len(the_plan.faults):
            break
        fault = the_plan.faults[wave]
        time.sleep(fault.gap)  # the schedule's gap: faults hit work in flight
        at = time.monotonic()
        before = rc.connection.state
        if fault.kind == "freeze":
            probe = freeze_with_probe(fault.index, fault.duration, cluster, rc, the_plan.config)
            probes.append(probe)
            done = f"probe {probe.first}, {probe.final}"
        else:
            inject(fault.kind, cluster, proxy, fault.victim)
            done = "injected"
        out(
            f"{at - started:7.1f} s  fault {fault.index + 1:>2} {fault.kind:<11} "
            f"took {time.monotonic() - at:4.1f} s "
            f"({before} -> {rc.connection.state}; {done})"
        )
    return probes


def _settle(user: User) -> None:
    """After the deadline: futures that finished but were not read yet are read here;
    the rest stay unread and count as hangs."""
    for job in user.jobs:
        for future, record, expected in zip(job.futures, job.records, job.spec.expected,
                                            strict=False):  # fmt: skip
            if record.first is None and future.done():
                record.first, _ = read_done(future, expected)
