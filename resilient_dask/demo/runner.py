"""Run the demo: start the cluster and the client, play the scenes, verify, clean up.

Cleanup is the part that must never fail: the cluster's processes are killed
(by process group) however the run ends, by a wrong value, an exception, Ctrl-C
or SIGTERM (which the command turns into an exception, so that this unwinding
runs). A frozen scheduler is thawed before the clients close, so that closing
never waits on a stopped process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import pathlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resilient_dask.demo.interrupts import held_interrupts
from resilient_dask.demo.observe import describe_error
from resilient_dask.demo.render import Progress, SceneResult
from resilient_dask.demo.scenes import (
    CLIENT_OPTIONS,
    SCENES,
    Stage,
    expected_values,
    scene_values,
)
from resilient_dask.demo.verify import Mismatch, exit_code, verify
from resilient_dask.demo.workload import ValueNotBack

if TYPE_CHECKING:
    from resilient_dask.testing import SubprocessCluster

_AT_THE_END = " (read again at the end)"
#: Two threads: after the worker kill, the survivor runs both clients' chains at once.
THREADS_PER_WORKER = 2
#: The cluster's processes stop trying to connect to a peer after 5 s, not distributed's
#: 30 s. On loopback a peer that refuses connections that long is dead. With 30 s, a
#: read that races a worker's death (the scheduler or a worker picked the dying worker
#: just before it was removed, and upstream keeps connecting to its address until this
#: timeout) could alone take the plain Client past the demo's minute. ResilientClient
#: does not wait for such a read (see docs/errors/worker-lost.md).
CLUSTER_ENV = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"}


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """What the command line chose."""

    workers: int = 2
    pid_file: pathlib.Path | None = None


@dataclasses.dataclass
class DemoReport:
    """Everything the summary shows."""

    results: list[SceneResult]
    mismatches: list[Mismatch]
    checked: int

    @property
    def exit_code(self) -> int:
        return exit_code(self.mismatches)


class PidRecorder:
    """Writes the pid of every process the cluster started to a file.

    :meth:`record` is called after the cluster starts and after each restart, so
    the file grows while the demo runs (a check can read it mid-run). Each pid is
    also its process group id (the cluster starts each process in a session of its
    own), so a check can find the process's children too.
    """

    def __init__(self, path: pathlib.Path | None) -> None:
        self.path = path
        self.pids: list[int] = []
        if path is not None:
            path.write_text("")

    def record(self, cluster: SubprocessCluster) -> None:
        procs = [cluster.scheduler, *cluster.workers]
        new = [p.pid for p in procs if p is not None and p.pid not in self.pids]
        self.pids += new
        if self.path is not None and new:
            with self.path.open("a") as f:
                f.writelines(f"{pid}\n" for pid in new)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """No log records while the demo runs; the previous setting afterwards.

    distributed logs every lost connection, with tracebacks, and its loggers have
    levels of their own (``distributed.client``, ...), so the process-wide switch
    is the one that works. The demo reports what happens itself.
    """
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def run_demo(options: DemoOptions, progress: Progress) -> DemoReport:
    """Play every scene and verify every value; the processes are gone on return."""
    from resilient_dask import ResilientClient
    from resilient_dask.testing import SubprocessCluster

    expected: dict[str, Any] = {}
    for number in range(1, len(SCENES) + 1):
        expected.update(expected_values(number))
    got: dict[str, Any] = {}
    results: list[SceneResult] = []
    pids = PidRecorder(options.pid_file)
    with quiet_logs(), contextlib.ExitStack() as stack:
        progress.step(
            f"starting a dask scheduler and {options.workers} workers "
            f"(nanny, {THREADS_PER_WORKER} threads each)"
        )
        cluster = SubprocessCluster(
            n_workers=options.workers, nthreads=THREADS_PER_WORKER, env=CLUSTER_ENV
        )
        stack.callback(cluster.close)
        cluster.start()
        pids.record(cluster)
        progress.step(f"cluster up at {cluster.scheduler_address}; pids {_pids(cluster)}")
        with held_interrupts():  # a client cut off while connecting could never be closed
            rc = ResilientClient(
                cluster.scheduler_address, resubmit=True, set_as_default=False, **CLIENT_OPTIONS
            )
            stack.callback(rc.close, timeout=10)
        stack.callback(cluster.thaw_scheduler)  # runs first: never close against a frozen one
        stack.callback(progress.status, None)
        stage = Stage(cluster, rc, progress, lambda: pids.record(cluster))
        failure = play_scenes(stage, results, got)
        if failure is None:
            expected.update({name + _AT_THE_END: expected[name] for name in list(expected)})
            try:
                got.update(_read_again(stage))
            except Exception as exc:
                failure = f"reading the values again failed: {describe_error(exc)}"
                progress.step(failure)
        progress.status(None)
        progress.step("stopping every process the demo started")
    mismatches = verify(expected, got, missing_reason=failure or "")
    return DemoReport(results, mismatches, checked=len(expected))


def play_scenes(stage: Stage, results: list[SceneResult], got: dict[str, Any]) -> str | None:
    """Play the scenes in order, until one fails; return why it failed (None if none did).

    A failed scene ends the demo: the cluster's state after an unexpected error is
    unknown, and the values of that scene and the next ones are reported missing.
    """
    for number, scene in enumerate(SCENES, start=1):
        stage.progress.step(f"scene {number}/{len(SCENES)}: {scene.title}")
        result = SceneResult(number, scene.title, [], [])
        results.append(result)
        try:
            scene.play(stage, result)
        except Exception as exc:
            result.failure = describe_error(exc)
            stage.progress.step(f"scene {number} failed: {result.failure}")
            stage.progress.detail(what_went_wrong(stage, exc))
            return f"scene {number} failed"
        got.update(result.values)
    return None


def what_went_wrong(stage: Stage, exc: Exception) -> str:
    """What a failed scene shows besides its error: the client's last connection
    transitions, the scheduler's story of a value that did not come back, and the
    end of each process's log."""
    history = stage.rc.connection.history[-6:]
    parts = ["ResilientClient connection, last transitions:"]
    parts += [f"  {_clock(t.time)} {t.state}: {t.detail}" for t in history] or ["  none"]
    if isinstance(exc, ValueNotBack):
        parts.append(f"the scheduler's story of {exc.key!r}:")
        try:
            parts.append(stage.rc.explain(exc.key))
        except Exception as error:
            parts.append(f"  could not be read: {describe_error(error)}")
    parts += ["last lines of each process's log:", stage.cluster.logs(tail=8)]
    return "\n".join(parts)


def _clock(wall: float) -> str:
    """``22:00:56.273``: local time, as the processes' logs show it."""
    return datetime.datetime.fromtimestamp(wall).strftime("%H:%M:%S.%f")[:-3]


def _read_again(stage: Stage) -> dict[str, Any]:
    """Every scene's values once more, after all the faults (the futures are still held)."""
    stage.progress.step("reading every scene's values again, after all the faults")
    got = {}
    for number, workload in enumerate(stage.workloads, start=1):
        for name, value in scene_values(number, workload, stage.timeout).items():
            got[name + _AT_THE_END] = value
    return got


def _pids(cluster: SubprocessCluster) -> str:
    procs = [cluster.scheduler, *cluster.workers]
    return ", ".join(f"{p.name} {p.pid}" for p in procs if p is not None)
