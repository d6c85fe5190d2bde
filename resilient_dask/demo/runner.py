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

if TYPE_CHECKING:
    from resilient_dask.testing import SubprocessCluster

_AT_THE_END = " (read again at the end)"
#: Two threads: after the worker kill, the survivor runs both clients' chains at once.
THREADS_PER_WORKER = 2


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
        cluster = SubprocessCluster(n_workers=options.workers, nthreads=THREADS_PER_WORKER)
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
            stage.progress.detail(
                "last lines of each process's log:\n" + stage.cluster.logs(tail=8)
            )
            return f"scene {number} failed"
        got.update(result.values)
    return None


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
