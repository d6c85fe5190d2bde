"""The demo's three faults, one function each.

Every scene submits the workload to the ResilientClient and a smaller copy to a
fresh plain ``distributed.Client`` on the same cluster, waits until both are
mid-way (maps and arrays done, chains running), injects one real fault, and
records what each client actually got: the exception type and message, a value,
or "still waiting after N s" for a call that does not return. Nothing shown for
the plain client is written in advance.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from resilient_dask.demo.interrupts import held_interrupts
from resilient_dask.demo.observe import Observation, WatchedCall, describe_error
from resilient_dask.demo.render import Progress, SceneResult
from resilient_dask.demo.verify import verify
from resilient_dask.demo.workload import PLAIN_SHAPE, RESILIENT_SHAPE, Workload, submit
from resilient_dask.testing import poll_for

if TYPE_CHECKING:
    from distributed import Client

    from resilient_dask.client import ResilientClient
    from resilient_dask.testing import SubprocessCluster

#: Options of the demo's ResilientClient: a frozen scheduler is noticed within about
#: 1.2 s and blocking calls give up after 3 s, so the freeze scene takes seconds.
CLIENT_OPTIONS: dict[str, Any] = {
    "probe_interval": 0.2,
    "probe_timeout": 1.0,
    "unresponsive_timeout": 3.0,
    "resubmit_timeout": 30.0,
}
#: How long the plain client's call is watched during the freeze (it would wait forever).
PLAIN_FREEZE_BOUND = CLIENT_OPTIONS["unresponsive_timeout"] + 2.0


@dataclasses.dataclass
class Stage:
    """What every scene works with."""

    cluster: SubprocessCluster
    rc: ResilientClient
    progress: Progress
    record_pids: Callable[[], None]
    workloads: list[Workload] = dataclasses.field(default_factory=list)
    timeout: float = 30.0  # bound on every wait of the demo

    def plain_saw(self, result: SceneResult, text: str) -> None:
        """Record (and show) what the plain Client got."""
        result.plain.append(text)
        self.progress.step(f"plain Client, {text}")

    def hit_scheduler(self, how: str, fault: Callable[[], None]) -> tuple[float, float]:
        """Announce and inject a fault on the scheduler; return when (wall clock, monotonic)."""
        scheduler = self.cluster.scheduler
        assert scheduler is not None
        self.progress.step(f"fault: {how} the scheduler (pid {scheduler.pid})")
        when = time.time(), time.monotonic()
        fault()
        return when

    def resilient_did(self, result: SceneResult, text: str) -> None:
        """Record (and show) what the ResilientClient did."""
        result.resilient.append(text)
        self.progress.step(f"ResilientClient, {text}")


def expected_values(number: int) -> dict[str, Any]:
    """The ResilientClient's values scene ``number`` must end with."""
    return {f"scene {number}: {k}": v for k, v in RESILIENT_SHAPE.expected().items()}


def scene_values(number: int, workload: Workload, timeout: float) -> dict[str, Any]:
    return {f"scene {number}: {k}": v for k, v in workload.values(timeout).items()}


@contextmanager
def plain_client(stage: Stage) -> Iterator[Client]:
    """A plain ``distributed.Client`` on the same scheduler, closed when the scene ends."""
    from distributed import Client

    with ExitStack() as stack:
        # Held until its close is registered: a client cut off while connecting, or
        # interrupted just after, could never be closed.
        with held_interrupts():
            client = Client(
                stage.cluster.scheduler_address, set_as_default=False, timeout=stage.timeout
            )
            stack.callback(client.close, timeout=10)
        yield client


def start_work(
    stage: Stage, plain: Client, number: int, chain_steps: int
) -> tuple[Workload, Workload]:
    """Submit both workloads; return once maps and arrays are done and the chains mid-way."""
    mine = submit(stage.rc, f"rc-{number}", RESILIENT_SHAPE)
    theirs = submit(plain, f"plain-{number}", PLAIN_SHAPE)
    stage.workloads.append(mine)
    stage.progress.status(
        lambda: f"{stage.rc.connection.state}, {mine.finished()}/{len(mine.futures())} "
        f"results of scene {number} ready"
    )
    poll_for(
        lambda: mine.map_and_array_done() and theirs.map_and_array_done(),
        stage.timeout,
        interval=0.02,
        message="maps and arrays done",
    )
    mine.start_chain()
    theirs.start_chain()
    poll_for(
        lambda: min(mine.chain_steps_done(), theirs.chain_steps_done()) >= chain_steps,
        stage.timeout,
        interval=0.02,
        message=f"both chains past step {chain_steps}",
    )
    if mine.chain[-1].done() or theirs.chain[-1].done():
        raise RuntimeError("a chain finished before the fault: the machine is too slow or busy")
    stage.progress.step(
        f"map and persisted array done; chains at step {mine.chain_steps_done()} "
        f"(ResilientClient) and {theirs.chain_steps_done()} (plain) of {len(mine.chain)}"
    )
    return mine, theirs


def transitions_since(rc: ResilientClient, wall: float) -> list[str]:
    """``RECONNECTING (+0.0 s)`` for each connection transition after ``wall``."""
    return [
        f"{t.state} (+{t.time - wall:.1f} s)" for t in rc.connection.history if t.time >= wall
    ]


def replay_detail(rc: ResilientClient, wall: float) -> str | None:
    """What the last replay after ``wall`` did, as the connection history says."""
    details = [
        t.detail
        for t in rc.connection.history
        if t.time >= wall and t.detail.startswith("lineage replayed")
    ]
    return details[-1] if details else None


# -- scene 1 ----------------------------------------------------------------------


def scheduler_killed(stage: Stage, result: SceneResult) -> None:
    """SIGKILL the scheduler mid-chain, restart it on the same port with new workers."""
    from resilient_dask import ConnectionState

    rc, cluster, progress = stage.rc, stage.cluster, stage.progress
    with plain_client(stage) as plain:
        mine, theirs = start_work(stage, plain, result.number, chain_steps=3)
        wall, killed_at = stage.hit_scheduler("SIGKILL", cluster.kill_scheduler)
        lost = WatchedCall(lambda: plain.gather(theirs.mapped)).observe(within=stage.timeout)
        stage.plain_saw(result, f"gather(map): {lost.describe()}")
        rc.connection.wait_for(ConnectionState.RECONNECTING, timeout=stage.timeout)
        progress.step("restarting the scheduler on its port; its workers exited, new ones start")
        cluster.restart_scheduler(respawn_workers=True)
        stage.record_pids()
        progress.step(f"scheduler and {len(cluster.workers)} workers back")
        result.values = scene_values(result.number, mine, stage.timeout)
        recovered = time.monotonic() - killed_at
        stage.resilient_did(
            result,
            "no error: its futures stayed pending through the outage and were replayed "
            "under the same keys",
        )
        stage.resilient_did(result, "connection: " + " -> ".join(transitions_since(rc, wall)))
        stage.resilient_did(
            result,
            f"{replay_detail(rc, wall) or 'no replay recorded'}; every value back "
            f"{recovered:.1f} s after the kill",
        )
        after = WatchedCall(lambda: plain.compute(theirs.array.sum(), sync=True)).observe(
            within=stage.timeout
        )
        stage.plain_saw(result, f"after the restart, array.sum(): {after.describe()}")


# -- scene 2 ----------------------------------------------------------------------


def scheduler_frozen(stage: Stage, result: SceneResult) -> None:
    """SIGSTOP the scheduler while both chains run; SIGCONT it once both were watched."""
    from resilient_dask import ConnectionState

    rc, cluster, progress = stage.rc, stage.cluster, stage.progress
    with plain_client(stage) as plain:
        mine, theirs = start_work(stage, plain, result.number, chain_steps=3)
        wall, _ = stage.hit_scheduler("SIGSTOP", cluster.freeze_scheduler)
        try:
            # Neither call has a timeout: that is what users write.
            theirs_call = WatchedCall(theirs.chain[-1].result, "plain-result")
            mine_call = WatchedCall(mine.chain[-1].result, "resilient-result")
            raised = mine_call.observe(within=CLIENT_OPTIONS["unresponsive_timeout"] + 10)
            stage.resilient_did(result, f"chain result(): {_headline(raised)}")
            if raised.error is not None:
                progress.detail(str(raised.error))
            stage.resilient_did(result, _noticed(rc, wall))
            waiting = theirs_call.observe(within=PLAIN_FREEZE_BOUND)
            stage.plain_saw(
                result,
                f"chain result(): {waiting.describe()} (watched for {PLAIN_FREEZE_BOUND:g} s; "
                f"it waits as long as the freeze lasts); client status still {plain.status!r}",
            )
        finally:
            cluster.thaw_scheduler()
        thawed_at = time.monotonic()
        progress.step("fault over: SIGCONT, the scheduler runs again")
        rc.connection.wait_for(ConnectionState.CONNECTED, timeout=stage.timeout)
        result.values = scene_values(result.number, mine, stage.timeout)
        recovered = time.monotonic() - thawed_at
        stage.resilient_did(
            result, f"after the thaw, the same futures gave every value in {recovered:.1f} s"
        )
        later = theirs_call.observe(within=waiting.seconds + stage.timeout)
        stage.plain_saw(result, f"after the thaw: {later.describe()}")


def _headline(observation: Observation) -> str:
    if observation.outcome != "error":
        return observation.describe()
    name, _, message = describe_error(observation.error, max_lines=1).partition(": ")
    return f"raised {name} after {observation.seconds:.1f} s: {message}"


def _noticed(rc: ResilientClient, wall: float) -> str:
    from resilient_dask import ConnectionState

    for transition in rc.connection.history:
        if transition.time >= wall and transition.state is ConnectionState.UNRESPONSIVE:
            return f"noticed the freeze after {transition.time - wall:.1f} s (UNRESPONSIVE)"
    return "did not mark the connection UNRESPONSIVE"


# -- scene 3 ----------------------------------------------------------------------


def worker_killed(stage: Stage, result: SceneResult) -> None:
    """SIGKILL the worker (and its nanny) that holds the ResilientClient's latest chain step."""
    cluster, progress = stage.cluster, stage.progress
    with plain_client(stage) as plain:
        mine, theirs = start_work(stage, plain, result.number, chain_steps=5)
        index = _worker_holding(stage, mine)
        victim = cluster.workers[index]
        progress.step(f"fault: SIGKILL {victim.name} (pid {victim.pid}) and its nanny")
        killed_at = time.monotonic()
        cluster.kill_worker(index)
        theirs_call = WatchedCall(lambda: theirs.values(stage.timeout), "plain-values")
        result.values = scene_values(result.number, mine, stage.timeout)
        recovered = time.monotonic() - killed_at
        left = sum(w.alive for w in cluster.workers)
        stage.resilient_did(
            result,
            f"no error: every value back {recovered:.1f} s after the kill "
            f"({left} worker{'s' if left != 1 else ''} left)",
        )
        got = theirs_call.observe(within=stage.timeout + 5)
        stage.plain_saw(result, _plain_values(got))


def _plain_values(got: Observation) -> str:
    if got.outcome != "value":
        return got.describe()
    wrong = verify(PLAIN_SHAPE.expected(), got.value)
    if wrong:
        return "values WRONG: " + "; ".join(str(m) for m in wrong)
    return f"no error: every value right, {got.seconds:.1f} s after the kill"


def _worker_holding(stage: Stage, workload: Workload) -> int:
    """Index in ``cluster.workers`` of the worker holding the latest finished chain step."""
    done = [f for f in workload.chain if f.status == "finished"]
    holders = stage.rc.who_has(done[-1:])  # type: ignore[no-untyped-call]
    addresses = next(iter(holders.values()), ())
    info = stage.rc.scheduler_info(n_workers=-1)["workers"]
    names = {info[a]["name"] for a in addresses if a in info}
    for index, proc in enumerate(stage.cluster.workers):
        if proc.name in names and proc.alive:
            return index
    return next(i for i, p in enumerate(stage.cluster.workers) if p.alive)


@dataclasses.dataclass(frozen=True)
class Scene:
    """A fault of the demo: its title in the summary and the function that plays it."""

    title: str
    play: Callable[[Stage, SceneResult], None]


SCENES = (
    Scene("scheduler killed (SIGKILL) mid-chain, restarted on the same port", scheduler_killed),
    Scene("scheduler frozen (SIGSTOP) mid-chain, then thawed (SIGCONT)", scheduler_frozen),
    Scene("worker killed (SIGKILL, nanny too) mid-chain", worker_killed),
)
