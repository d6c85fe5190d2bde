"""The story recorder: a scheduler plugin that keeps computing tasks' transitions, so that
err.story reaches back to a task's start at the default transition log length; installed
by every ResilientClient when it connects, shared by the clients of one scheduler, bounded."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from distributed import wait

from resilient_dask import ConnectionState, ResilientClient
from resilient_dask._compat.on_scheduler import (
    FACTS_OP,
    REMOVALS_KEPT,
    STORY_PLUGIN,
    StoryRecorder,
)
from resilient_dask.testing import SubprocessCluster, poll_for

pytestmark = pytest.mark.timeout(120)


def fail(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


def inc(x: int) -> int:
    return x + 1


def drive(recorder: StoryRecorder, key: str, *states: str) -> None:
    """Send ``key`` through ``states`` as the scheduler would (stimulus ids s0, s1, ...)."""
    for i, (start, finish) in enumerate(itertools.pairwise(states)):
        recorder.transition(key, start, finish, stimulus_id=f"s{i}", worker="tcp://w")


def recorded(dask_scheduler: Any = None) -> dict[str, Any]:
    """Run on the scheduler: what its recorder holds (None: no recorder)."""
    recorder = dask_scheduler.plugins.get(STORY_PLUGIN)
    if recorder is None:
        return {"installed": False}
    return {
        "installed": True,
        "id": id(recorder),
        "running": len(recorder.running),
        "erred": list(recorder.erred),
    }


# -- the plugin alone, driven as the scheduler drives it ------------------------------------


def test_an_erred_task_keeps_every_step_from_its_start() -> None:
    """Each step is (key, start, finish, None, stimulus_id, time), from released -> waiting on."""
    recorder = StoryRecorder(kept=10)
    drive(recorder, "x", "released", "waiting", "queued", "processing", "erred")
    steps = recorder.story("x")
    assert [(s[0], s[1], s[2], s[3], s[4]) for s in steps] == [
        ("x", "released", "waiting", None, "s0"),
        ("x", "waiting", "queued", None, "s1"),
        ("x", "queued", "processing", None, "s2"),
        ("x", "processing", "erred", None, "s3"),
    ]
    assert [s[5] for s in steps] == sorted(s[5] for s in steps)
    assert recorder.running == {} and list(recorder.erred) == ["x"]


def test_a_task_that_reaches_memory_or_is_forgotten_leaves_nothing() -> None:
    """Records end at memory and at forgotten: nothing is kept for a finished task."""
    recorder = StoryRecorder(kept=10)
    drive(recorder, "done", "released", "waiting", "processing", "memory")
    drive(recorder, "cancelled", "released", "waiting", "released", "forgotten")
    drive(recorder, "data", "released", "memory")  # scattered: never computed
    assert recorder.running == {} and recorder.erred == {}
    assert recorder.story("done") == []


def test_a_worker_death_stays_in_the_story() -> None:
    """processing -> released -> waiting (its worker died) is a step, not a new start."""
    recorder = StoryRecorder(kept=10)
    drive(recorder, "x", "released", "waiting", "processing", "released", "waiting")
    drive(recorder, "x", "waiting", "processing", "erred")
    assert [s[1:3] for s in recorder.story("x")] == [
        ("released", "waiting"), ("waiting", "processing"), ("processing", "released"),
        ("released", "waiting"), ("waiting", "processing"), ("processing", "erred"),
    ]  # fmt: skip


def test_a_retried_task_s_story_goes_on_from_its_first_start() -> None:
    """An erred task computed again (erred -> released -> waiting) keeps its earlier steps."""
    recorder = StoryRecorder(kept=10)
    drive(recorder, "x", "released", "waiting", "processing", "erred")
    drive(recorder, "x", "erred", "released", "waiting", "processing", "erred")
    assert len(recorder.story("x")) == 7 and recorder.story("x")[0][1] == "released"
    drive(recorder, "x", "erred", "released", "forgotten")
    assert recorder.story("x") == [] and recorder.erred == {} and recorder.running == {}


def test_erred_stories_are_bounded_oldest_first() -> None:
    """Past ``kept`` erred tasks, the oldest erred story is dropped."""
    recorder = StoryRecorder(kept=3)
    for i in range(5):
        drive(recorder, f"x{i}", "released", "waiting", "processing", "erred")
    assert list(recorder.erred) == ["x2", "x3", "x4"]
    assert recorder.story("x0") == [] and len(recorder.story("x4")) == 3


def test_worker_removals_are_remembered_by_stimulus_and_bounded() -> None:
    """remove_worker(stimulus_id=) names the worker for the steps that stimulus caused;
    only the last REMOVALS_KEPT removals are kept."""
    recorder = StoryRecorder(kept=3)
    for i in range(REMOVALS_KEPT + 2):
        recorder.remove_worker(None, f"tcp://w{i}", stimulus_id=f"handle-worker-cleanup-{i}")
    assert len(recorder.removals) == REMOVALS_KEPT
    assert "handle-worker-cleanup-0" not in recorder.removals
    assert recorder.removals[f"handle-worker-cleanup-{REMOVALS_KEPT + 1}"] == (
        f"tcp://w{REMOVALS_KEPT + 1}",
        "remove-worker",
    )


def test_a_restart_clears_the_recorder() -> None:
    """The scheduler's restart() forgets every task: so does the recorder."""
    recorder = StoryRecorder(kept=3)
    drive(recorder, "a", "released", "waiting")
    drive(recorder, "b", "released", "waiting", "processing", "erred")
    recorder.restart(scheduler=None)
    assert recorder.running == {} and recorder.erred == {}


# -- on a real scheduler -----------------------------------------------------------------


def test_the_client_installs_it_and_nothing_is_kept_for_finished_tasks(
    rc: ResilientClient,
) -> None:
    """Connected: the recorder is on the scheduler; tasks that finished leave no record,
    erred ones are kept until their keys are forgotten."""
    assert rc.run_on_scheduler(recorded)["installed"]
    assert rc.gather(rc.map(inc, range(300), pure=False)) == list(range(1, 301))
    failed = rc.map(fail, range(20), pure=False)
    wait(failed, timeout=60)
    held = rc.run_on_scheduler(recorded)
    assert held["running"] == 0
    assert sorted(held["erred"]) == sorted(str(f.key) for f in failed)
    del failed
    poll_for(lambda: rc.run_on_scheduler(recorded)["erred"] == [], 30)


def test_clients_of_one_scheduler_share_one_recorder(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """A second client finds the recorder there and leaves it (and its records) in place."""
    first = make_client(cluster.scheduler_address)
    failed = first.submit(fail, 1)
    wait([failed], timeout=30)
    before = first.run_on_scheduler(recorded)
    second = make_client(cluster.scheduler_address)
    after = second.run_on_scheduler(recorded)
    assert after["id"] == before["id"] and after["erred"] == [str(failed.key)]


def test_without_record_stories_nothing_is_installed_and_stories_come_from_the_log(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """record_stories=False: no recorder; a failed task's story is read from the log."""
    rc = make_client(cluster.scheduler_address, record_stories=False)
    assert rc.run_on_scheduler(recorded) == {"installed": False}
    future = rc.submit(fail, 2)
    with pytest.raises(ValueError) as info:
        future.result(timeout=30)
    story = info.value.story  # type: ignore[attr-defined]
    assert story.complete and [(s.start, s.finish) for s in story.steps][-1] == (
        "processing",
        "erred",
    )


def test_a_restarted_scheduler_gets_the_recorder_again(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """After reconnecting to a new scheduler process, the client installs it there too."""
    rc = make_client(cluster.scheduler_address)
    assert rc.run_on_scheduler(recorded)["installed"]
    cluster.kill_scheduler()
    rc.connection.wait_for(ConnectionState.RECONNECTING, timeout=30)
    cluster.restart_scheduler(respawn_workers=True)
    rc.connection.wait_for(ConnectionState.CONNECTED, timeout=60)
    assert rc.run_on_scheduler(recorded)["installed"]
    future = rc.submit(fail, 3, pure=False)
    with pytest.raises(ValueError) as info:
        future.result(timeout=60)
    assert info.value.story.complete  # type: ignore[attr-defined]


def run_function_events(dask_scheduler: Any = None) -> int:
    """Run on the scheduler: how many run_on_scheduler calls its event log holds."""
    return sum(
        1 for _, msg in dask_scheduler.get_events("all") if msg.get("action") == "run-function"
    )


def drop_facts_handler(dask_scheduler: Any = None) -> None:
    """Run on the scheduler: as a scheduler that has not had the recorder installed yet."""
    del dask_scheduler.handlers[FACTS_OP]


def test_stories_are_asked_of_the_recorder_s_handler_not_run_on_the_scheduler(
    rc: ResilientClient,
) -> None:
    """Capturing 50 failed tasks' stories ships no function to the scheduler: nothing is
    added to its event log (each run_on_scheduler logs its pickled function there)."""
    before = rc.run_on_scheduler(run_function_events)
    failed = rc.map(fail, range(50), pure=False)
    wait(failed, timeout=60)
    errors = [f.exception(timeout=30) for f in failed]
    assert all(err.story.complete for err in errors)  # type: ignore[union-attr]
    # run_function_events itself is logged once more by the time it reads the log.
    assert rc.run_on_scheduler(run_function_events) == before + 1


def test_a_scheduler_without_the_handler_still_gives_the_story(rc: ResilientClient) -> None:
    """A scheduler that answers the facts request with nothing (no handler: restarted at
    the same address before the client reinstalled the recorder) is asked with
    run_on_scheduler instead."""
    rc.run_on_scheduler(drop_facts_handler)
    future = rc.submit(fail, 4, pure=False)
    with pytest.raises(ValueError) as info:
        future.result(timeout=30)
    story = info.value.story  # type: ignore[attr-defined]
    assert story.complete and story.steps[-1].finish == "erred"
