"""Failure forensics: a failed task's story, captured right after its error is delivered
(in batches, off the error path), attached as err.story, explained."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
from collections.abc import Callable
from typing import Any

import dask
import pytest
from distributed import as_completed, wait

from resilient_dask import ResilientClient, WorkerLost
from resilient_dask.forensics import TaskStory
from resilient_dask.testing import SubprocessCluster, poll_for

pytestmark = pytest.mark.timeout(120)


def fail(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


def inc(x: int) -> int:
    return x + 1


def kill_own_worker() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_task_error_carries_its_story(rc: ResilientClient) -> None:
    """A task's ValueError raised by result() has err.story: erred on which worker, and why."""
    future = rc.submit(fail, 7)
    with pytest.raises(ValueError, match="cannot handle 7") as info:
        future.result(timeout=30)
    story = info.value.story  # type: ignore[attr-defined]
    assert isinstance(story, TaskStory)
    assert story.key == str(future.key) and story.state == "erred"
    assert [(s.start, s.finish) for s in story.steps][-1] == ("processing", "erred")
    [worker] = rc.scheduler_info()["workers"]
    assert story.workers == (worker,)
    assert "cannot handle 7" in (story.exception or "")


def test_explain_renders_a_timeline(rc: ResilientClient) -> None:
    """rc.explain(future) lists the transitions with times, the worker and the error."""
    future = rc.submit(fail, 3)
    wait([future], timeout=30)
    text = rc.explain(future)
    assert text.splitlines()[0] == f"Task {str(future.key)!r}: erred"
    assert "released -> waiting" in text and "processing -> erred" in text
    assert "Error: ValueError('cannot handle 3')" in text
    [worker] = rc.scheduler_info()["workers"]
    assert f"Workers: {worker}" in text
    assert "raise ValueError" in text, "the traceback's last lines"


def test_explain_of_a_successful_task_by_key(rc: ResilientClient) -> None:
    """rc.explain(key) of a finished task asks the scheduler and shows it reached memory."""
    future = rc.submit(inc, 1)
    assert future.result(timeout=30) == 2
    assert "processing -> memory" in rc.explain(future.key)


def test_story_survives_the_scheduler_forgetting(
    make_client: Callable[..., ResilientClient],
) -> None:
    """With a 30-entry transition log, the story captured at failure outlives the scheduler's."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__TRANSITION_LOG_LENGTH": "30"}
    with SubprocessCluster(n_workers=1, env=env) as cluster:
        rc = make_client(cluster.scheduler_address)
        failed = rc.submit(fail, 1)
        wait([failed], timeout=30)
        wait(rc.map(inc, range(40)), timeout=60)  # pushes the failure out of the log
        key = failed.key
        forgotten = rc.run_on_scheduler(lambda dask_scheduler: dask_scheduler.story(key))
        assert forgotten == [], "the scheduler's own log no longer has the failure"
        assert "processing -> erred" in rc.explain(failed)


def test_worker_lost_carries_the_story_with_the_dead_worker(
    make_client: Callable[..., ResilientClient],
) -> None:
    """WorkerLost has err.story naming the worker that died, and it pickles."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    with SubprocessCluster(n_workers=1, env=env) as cluster:
        rc = make_client(cluster.scheduler_address)
        [worker] = rc.scheduler_info()["workers"]
        future = rc.submit(kill_own_worker)
        with pytest.raises(WorkerLost) as info:
            future.result(timeout=60)
        story = info.value.story  # type: ignore[attr-defined]
        assert story.deaths == 1 and worker in story.workers
        assert "remove-worker" in story.render()
        copy = pickle.loads(pickle.dumps(info.value))
        assert copy.story == story


def test_the_error_is_delivered_before_its_story_is_captured(
    rc: ResilientClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wait() sees the error while the story capture is held; result() then waits for it."""
    stories = rc._rd_stories
    capture = stories._capture
    held = asyncio.Event()
    started: list[int] = []

    async def held_capture(keys: list[Any]) -> None:
        started.append(len(keys))
        await held.wait()
        await capture(keys)

    monkeypatch.setattr(stories, "_capture", held_capture)
    future = rc.submit(fail, 5)
    wait([future], timeout=30)
    poll_for(lambda: started == [1], 10, message="the capture started, and is held")
    assert future.status == "error", "delivered while the capture is held"
    rc.loop.add_callback(held.set)
    with pytest.raises(ValueError) as info:
        future.result(timeout=30)
    assert info.value.story.state == "erred"  # type: ignore[attr-defined]


def test_stories_of_many_failures_are_captured_in_batches(
    rc: ResilientClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 tasks failing at once (their dependency failed): a few captures, not 100;
    exception() of each returns its error with its story."""
    stories = rc._rd_stories
    capture = stories._capture
    batches: list[int] = []

    async def counted(keys: list[Any]) -> None:
        batches.append(len(keys))
        await capture(keys)

    monkeypatch.setattr(stories, "_capture", counted)
    bad = dask.delayed(fail)(0, dask_key_name="bad")
    outputs = [dask.delayed(inc)(bad, dask_key_name=f"inc-{i}") for i in range(100)]
    futures = rc.compute(outputs)
    wait(futures, timeout=60)
    errors: list[Any] = [future.exception(timeout=30) for future in futures]
    assert [err.story.key for err in errors] == [str(f.key) for f in futures]
    assert {err.story.blame for err in errors} == {"bad"}
    assert sum(batches) == 100 and len(batches) <= 3, batches


def test_every_story_of_a_large_map_is_complete_at_the_default_log_length(
    rc: ResilientClient,
) -> None:
    """3,000 tasks that all raise, with the scheduler's 1,000-entry log: every err.story
    still reaches back to its task's first transition (the story recorder has it)."""
    futures = rc.map(fail, range(3000), pure=False)
    wait(futures, timeout=90)
    errors: list[Any] = [future.exception(timeout=30) for future in futures]
    first = futures[0].key
    logged = rc.run_on_scheduler(
        lambda dask_scheduler: [t[1] for t in dask_scheduler.story(first) if t[0] == first]
    )
    assert logged[:1] != ["released"], "the scheduler's log has lost the first task's start"
    assert all(err.story.complete for err in errors)
    assert [err.story.key for err in errors] == [str(f.key) for f in futures]
    story = errors[0].story
    assert (story.steps[0].start, story.steps[0].finish) == ("released", "waiting")
    assert (story.steps[-1].start, story.steps[-1].finish) == ("processing", "erred")


def test_as_completed_errors_carry_their_story(rc: ResilientClient) -> None:
    """The error of a future from as_completed, read with exception(), has its story."""
    futures = rc.map(fail, range(3))
    for future in as_completed(futures):
        err: Any = future.exception(timeout=30)
        assert err.story.key == str(future.key) and err.story.state == "erred"
        assert "cannot handle" in err.story.exception


def test_a_delivered_error_keeps_only_the_hook_s_frames_alive(rc: ResilientClient) -> None:
    """tblib rebuilds a task's traceback with frames whose f_back is the call stack they
    were made on, kept alive as long as the error: of resilient_dask's frames, only the
    client hook's are on it (the reactions that typed the error are not)."""
    from resilient_dask import _compat

    future = rc.submit(fail, 5, pure=False)
    with pytest.raises(ValueError):
        future.result(timeout=30)
    state = _compat.future_state(future)
    assert state is not None and state.traceback is not None
    ours = set()
    frame = state.traceback.tb_frame
    while frame is not None:
        if "resilient_dask" in frame.f_code.co_filename:
            ours.add((os.path.basename(frame.f_code.co_filename), frame.f_code.co_name))
        frame = frame.f_back
    hook = "client_hooks.py"
    assert ours == {(hook, "_handle_task_erred"), (hook, "_deliver_error")}
