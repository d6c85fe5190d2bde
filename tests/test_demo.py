"""`resilient-dask demo`: the real command end to end, and its verdict, output and options."""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import io
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from resilient_dask.cli import main
from resilient_dask.demo import runner
from resilient_dask.demo.command import progress_mode
from resilient_dask.demo.interrupts import Interrupted, held_interrupts, signals_raise
from resilient_dask.demo.observe import WatchedCall, describe_error
from resilient_dask.demo.render import Progress, SceneResult, render_summary, side_by_side
from resilient_dask.demo.runner import DemoReport
from resilient_dask.demo.scenes import PLAIN_FREEZE_BOUND, SCENES, Scene, Stage, expected_values
from resilient_dask.demo.verify import EXIT_OK, EXIT_WRONG, Mismatch, exit_code, verify
from resilient_dask.demo.workload import RESILIENT_SHAPE, ValueNotBack, Workload, WorkloadShape
from resilient_dask.testing import poll_for

pytestmark = pytest.mark.timeout(10)

DEMO = [sys.executable, "-m", "resilient_dask", "demo"]
#: The issue's bound on the whole demo.
SPEC_SECONDS = 60


def left_behind(pids: list[int]) -> list[str]:
    """Live (non-zombie) processes in the process groups of ``pids`` (each pid is a group id)."""
    groups = set(pids)
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) in groups and state != "Z":
            found.append(f"pid {entry.name} (group {pgrp}, state {state})")
    return found


def read_pids(path: pathlib.Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def stop_groups(pid_file: pathlib.Path) -> None:
    """SIGKILL the process groups the demo recorded (its cluster), for a test that failed
    with the demo killed or still running: they are in sessions of their own."""
    for pid in read_pids(pid_file):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def columns(summary: str) -> dict[int, tuple[str, str]]:
    """Scene number -> (plain column, resilient column), each unwrapped to one line."""
    found: dict[int, tuple[list[str], list[str]]] = {}
    number = 0
    for line in summary.splitlines():
        heading = re.match(r"^(\d+)\. ", line)
        if heading:
            number = int(heading.group(1))
            found[number] = ([], [])
        elif number and line.startswith("   "):
            left, _, right = line[3:].partition(" |")
            found[number][0].append(left.strip())
            found[number][1].append(right.strip())
    return {n: (" ".join(filter(None, a)), " ".join(filter(None, b)))
            for n, (a, b) in found.items()}  # fmt: skip


# -- the real command, end to end ------------------------------------------------------------


@pytest.mark.cluster
@pytest.mark.timeout(SPEC_SECONDS + 30)
def test_demo_recovers_every_value_shows_both_clients_and_leaves_no_process(
    tmp_path: pathlib.Path,
) -> None:
    """Exit 0 in under a minute; each fault with the plain error and the verified values; no
    process left behind."""
    pid_file = tmp_path / "pids"
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [*DEMO, "--pid-file", str(pid_file)],
            capture_output=True,
            text=True,
            timeout=SPEC_SECONDS + 15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        stop_groups(pid_file)  # run() killed the demo, not its cluster
        raise
    took = time.monotonic() - started
    pids = read_pids(pid_file)
    assert left_behind(pids) == [], f"left behind after the demo exited (pids {pids})"
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert took < SPEC_SECONDS, f"the demo took {took:.1f} s"
    assert len(pids) == 2 * (1 + 2), "a scheduler and two workers, started again in scene 1"
    out = proc.stdout
    assert "\r" not in out and "\x1b" not in out, "progress control characters in a pipe"
    assert "Traceback" not in proc.stderr, proc.stderr
    summary = out[out.index(" Summary "):]
    sides = columns(summary)
    assert sorted(sides) == [1, 2, 3]
    for scene in SCENES:
        assert scene.title in summary
    # What the plain distributed.Client got, as it happened.
    assert re.search(
        r"gather\(map\): FutureCancelledError: demo-plain-1-square-\d+ cancelled for reason: "
        r"scheduler-connection-lost\.",
        sides[1][0],
    ), sides[1][0]
    assert f"chain result(): still waiting after {PLAIN_FREEZE_BOUND:.1f} s" in sides[2][0]
    assert "client status still 'running'" in sides[2][0]
    assert "no error: every value right" in sides[3][0]
    # What the ResilientClient did, and its values, checked against local expectations.
    shape = RESILIENT_SHAPE
    keys = shape.map_size + shape.chain_length + shape.array_size // shape.array_chunk
    assert "RECONNECTING (+" in sides[1][1] and f"replayed {keys} keys" in sides[1][1]
    assert re.search(r"raised SchedulerUnresponsive after \d+\.\d s", sides[2][1])
    assert "noticed the freeze after" in sides[2][1]
    expected = RESILIENT_SHAPE.expected()
    values = (
        f"values: map ok ({len(expected['map'])} values), chain ok (= {expected['chain']}), "
        f"array sum ok (= {expected['array sum']})"
    )
    for number in (1, 2, 3):
        assert values in sides[number][1], sides[number][1]
    checked = 2 * sum(len(expected_values(n)) for n in (1, 2, 3))
    assert summary.rstrip().endswith(f"All {checked} values right.")


@pytest.mark.cluster
@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_demo_stops_every_process_it_started(
    tmp_path: pathlib.Path, sig: signal.Signals
) -> None:
    """Ctrl-C or SIGTERM mid-scene: exit 128+N, and every process the demo started is gone."""
    pid_file = tmp_path / "pids"
    out_file = tmp_path / "out"
    with out_file.open("w") as out:
        proc = subprocess.Popen(
            [*DEMO, "--pid-file", str(pid_file)], stdout=out, stderr=subprocess.PIPE, text=True
        )
    try:
        poll_for(lambda: "scene 1/3" in out_file.read_text(), 40, message="scene 1 started")
        pids = read_pids(pid_file)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 128 + sig, err
        assert "every process the demo started is stopped" in err
        assert len(pids) == 3
        assert left_behind(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        stop_groups(pid_file)  # what a failed run left behind (nothing when it passed)


# -- options and usage errors ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "9", "0", "-3"])
def test_workers_out_of_range_is_a_usage_error_naming_the_value(value: str) -> None:
    """--workers outside 2..8 exits 2, naming the value and the allowed range."""
    result = CliRunner().invoke(main, ["demo", "--workers", value])
    assert result.exit_code == 2
    assert f"{value} workers: the demo needs 2 to 8" in result.output
    assert "--workers" in result.output


def test_workers_not_a_number_is_a_usage_error() -> None:
    """--workers two exits 2 and says it is not an integer."""
    result = CliRunner().invoke(main, ["demo", "--workers", "two"])
    assert result.exit_code == 2
    assert "'two' is not a valid integer" in result.output


def test_unknown_option_is_a_usage_error() -> None:
    """An unknown option exits 2."""
    result = CliRunner().invoke(main, ["demo", "--fast"])
    assert result.exit_code == 2
    assert "No such option '--fast'" in result.output


def test_pid_file_in_a_missing_directory_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    """--pid-file in a directory that does not exist exits 2 naming the directory."""
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(main, ["demo", "--pid-file", str(missing / "pids")])
    assert result.exit_code == 2
    assert f"its directory {str(missing)!r} does not exist" in result.output


def test_missing_numpy_is_reported_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without numpy the demo exits 2 saying how to install it, and starts nothing."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "numpy" else real(name, *a)
    )
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 2
    assert "needs numpy" in result.output
    assert "pip install 'resilient-dask[demo]'" in result.output


def test_command_module_imports_neither_dask_nor_numpy() -> None:
    """Importing the demo command (as the CLI does) stays cheap."""
    code = (
        "import sys, resilient_dask.demo.command\n"
        "print([m for m in ('distributed', 'dask', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("quiet", "isatty", "term", "mode"),
    [
        (True, True, "xterm", "quiet"),
        (False, True, "xterm-256color", "live"),
        (False, False, "xterm", "lines"),
        (False, True, "dumb", "lines"),
        (False, True, None, "lines"),
    ],
)
def test_progress_mode(quiet: bool, isatty: bool, term: str | None, mode: str) -> None:
    """A live status line only on a real terminal; plain lines elsewhere; nothing with -q."""
    assert progress_mode(quiet, isatty, term) == mode


def test_sigterm_raises_interrupted_and_handlers_are_restored() -> None:
    """Inside signals_raise SIGTERM becomes an exception (so cleanup runs); outside, as before."""
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as info, signals_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        poll_for(lambda: False, 5, message="the signal handler ran")
    assert info.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_swallowed_in_a_weakref_callback_is_delivered_again(sig: signal.Signals) -> None:
    """A signal that raises inside a weakref callback (Python only prints such exceptions;
    CI saw it eat a Ctrl-C) is delivered again and raised in the main flow, unprinted."""
    expected = KeyboardInterrupt if sig == signal.SIGINT else Interrupted
    before = signal.getsignal(sig)  # SIG_IGN for SIGINT in a background job of a shell
    unraisable: list[Any] = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with pytest.raises(expected), signals_raise():

            class Target:
                pass

            target = Target()
            ref = weakref.ref(target, lambda _: os.kill(os.getpid(), sig))
            del target  # the callback runs now; the handler raises inside it
            assert ref() is None
            poll_for(lambda: False, 5, message="the swallowed signal delivered again")
    finally:
        sys.unraisablehook = previous_hook
    assert unraisable == [], "the swallowed interruption was printed as ignored"
    assert signal.getsignal(sig) is before, "the handler in place before was not restored"


def test_a_signal_inside_held_interrupts_is_raised_when_the_block_ends() -> None:
    """A SIGTERM while a client is being created waits for the block, then is raised."""
    finished_block = False
    with pytest.raises(Interrupted) as info, signals_raise():
        with held_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            # the handler runs at once in the main thread; here it only records the signal
            poll_for(lambda: signal.getsignal(signal.SIGTERM) is signal.SIG_IGN, 5)
            finished_block = True
        pytest.fail("the held signal was not raised when the block ended")
    assert finished_block
    assert info.value.signum == signal.SIGTERM


@pytest.mark.timeout(60)
def test_a_signal_while_the_plain_client_connects_still_closes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM arriving as the scene's plain Client connects: Interrupted, and it is closed."""
    import types

    import distributed

    from resilient_dask.demo.scenes import plain_client

    made: list[distributed.Client] = []
    connect = distributed.Client.__init__

    def connect_then_signal(self: distributed.Client, *args: Any, **kwargs: Any) -> None:
        connect(self, *args, **kwargs)
        made.append(self)
        os.kill(os.getpid(), signal.SIGTERM)  # lands inside held_interrupts()
        poll_for(lambda: signal.getsignal(signal.SIGTERM) is signal.SIG_IGN, 5)

    with distributed.LocalCluster(
        n_workers=1, processes=False, dashboard_address=":0"
    ) as cluster:
        stage = types.SimpleNamespace(cluster=cluster, timeout=30.0)
        monkeypatch.setattr(distributed.Client, "__init__", connect_then_signal)
        with pytest.raises(Interrupted), signals_raise(), plain_client(stage):  # type: ignore[arg-type]
            pytest.fail("the scene ran although the signal came while connecting")
        monkeypatch.undo()
    (client,) = made
    assert client.status == "closed"


# -- verification and exit code -----------------------------------------------------------------


def test_right_values_verify_and_exit_0() -> None:
    """The expected values themselves pass; the exit code is 0."""
    expected = expected_values(1)
    assert verify(expected, dict(expected)) == []
    assert exit_code([]) == EXIT_OK == 0


def test_a_deliberately_wrong_value_is_named_and_exits_1() -> None:
    """One wrong item in the map: one mismatch naming the value and the item; exit code 1."""
    expected = expected_values(2)
    got = dict(expected)
    got["scene 2: map"] = [*expected["scene 2: map"][:-1], -1]
    mismatches = verify(expected, got)
    assert [m.name for m in mismatches] == ["scene 2: map"]
    last = len(expected["scene 2: map"]) - 1
    assert f"(item {last}: expected {expected['scene 2: map'][-1]}, got -1)" in str(mismatches[0])
    assert exit_code(mismatches) == EXIT_WRONG == 1


def test_wrong_scalar_missing_value_and_unexpected_value_are_all_reported() -> None:
    """A wrong sum, a value never read and a value nobody expected: three mismatches."""
    expected = {"a": 1, "b": 2}
    mismatches = verify(expected, {"a": 3, "c": 4}, missing_reason="scene 2 failed")
    assert [(m.name, m.missing) for m in mismatches] == [("a", False), ("b", True), ("c", False)]
    assert str(mismatches[0]) == "a: expected 1, got 3"
    assert str(mismatches[1]) == "b: no value (expected 2); scene 2 failed"


@pytest.mark.parametrize(
    ("want", "got"), [([1, 2], (1, 2)), (1, True), (1, 1.0), ([1], [1, 2]), ([1], [True])]
)
def test_equal_but_different_kind_is_wrong(want: Any, got: Any) -> None:
    """A tuple for a list, a bool or a float for an int, a longer list: not the expected value."""
    assert len(verify({"v": want}, {"v": got})) == 1


def test_report_exit_code_follows_its_mismatches() -> None:
    """DemoReport.exit_code is 1 with a mismatch and 0 without."""
    wrong = Mismatch("scene 1: chain", 20, 19)
    assert DemoReport([], [wrong], checked=1).exit_code == 1
    assert DemoReport([], [], checked=1).exit_code == 0


def test_command_exits_1_naming_the_wrong_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command prints the summary with the wrong value and exits with the report's code."""
    result = SceneResult(1, "a fault", ["plain saw this"], ["resilient did that"])
    result.values = {"scene 1: chain": 19}
    report = DemoReport([result], [Mismatch("scene 1: chain", 20, 19)], checked=1)
    monkeypatch.setattr(runner, "run_demo", lambda options, progress: report)
    outcome = CliRunner().invoke(main, ["demo", "--quiet"])
    assert outcome.exit_code == 1
    assert "scene 1: chain: expected 20, got 19" in outcome.output


def test_command_exits_1_when_the_demo_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error outside the scenes (e.g. the cluster does not start) is one line and exit 1."""

    def fail(options: Any, progress: Any) -> None:
        raise TimeoutError("not true after 60 s: scheduler answering at tcp://127.0.0.1:1")

    monkeypatch.setattr(runner, "run_demo", fail)
    outcome = CliRunner().invoke(main, ["demo", "--quiet"])
    assert outcome.exit_code == 1
    assert outcome.output == (
        "error: the demo could not run: TimeoutError: not true after 60 s: "
        "scheduler answering at tcp://127.0.0.1:1\n"
    )


def test_a_failing_scene_ends_the_demo_and_its_values_are_reported_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a scene raises, no later scene runs; the failure, the logs and the missing values
    are reported."""

    class Cluster:
        def logs(self, tail: int | None = None) -> str:
            assert tail is not None, "a failed scene shows each log's end, not all of it"
            return "--- worker-1 ---\nthe worker's last words"

    class Client:
        connection = SimpleNamespace(history=[])

    def good(stage: Stage, result: SceneResult) -> None:
        result.values = {"scene 1: chain": 20}

    def bad(stage: Stage, result: SceneResult) -> None:
        raise RuntimeError("no worker came back")

    def never(stage: Stage, result: SceneResult) -> None:
        pytest.fail("a scene ran after a failed one")

    scenes = (Scene("one", good), Scene("two", bad), Scene("three", never))
    monkeypatch.setattr(runner, "SCENES", scenes)
    stream = io.StringIO()
    stage = Stage(Cluster(), Client(), Progress(stream, "lines"), lambda: None)  # type: ignore[arg-type]
    results: list[SceneResult] = []
    got: dict[str, Any] = {}
    failure = runner.play_scenes(stage, results, got)
    assert failure == "scene 2 failed"
    assert [r.failure for r in results] == [None, "RuntimeError: no worker came back"]
    assert "scene 2 failed: RuntimeError: no worker came back" in stream.getvalue()
    assert "the worker's last words" in stream.getvalue()
    mismatches = verify({"scene 1: chain": 20, "scene 2: chain": 20}, got, failure)
    missing = "scene 2: chain: no value (expected 20); scene 2 failed"
    assert [str(m) for m in mismatches] == [missing]
    summary = render_summary(results, mismatches, checked=2, width=100)
    assert "the demo could not finish this scene: RuntimeError: no worker came back" in (
        columns(summary)[2][1]
    )


def test_a_value_that_does_not_come_back_is_named_with_its_status() -> None:
    """values() gives up at its deadline, saying which future it waited for and its status."""

    asked: list[float] = []

    class Pending:
        key = "demo-rc-3-square-0"
        status = "pending"

        def result(self, timeout: float) -> Any:
            asked.append(timeout)
            raise TimeoutError(f"timed out after {timeout} s.")

    workload = Workload(None, "rc-3", RESILIENT_SHAPE, [Pending()], None)  # type: ignore[arg-type,list-item]
    with pytest.raises(TimeoutError) as raised:
        workload.values(timeout=2.0)
    assert str(raised.value) == "'demo-rc-3-square-0' not back within 2 s (status 'pending')"
    assert len(asked) == 1 and 1.9 < asked[0] <= 2.0


def test_a_value_not_back_shows_its_story_and_the_connection_history() -> None:
    """When a scene gives up on a value, the failure shows the scheduler's story of that key
    and the client's last connection transitions; a story that cannot be read is said so."""
    from resilient_dask import ConnectionState
    from resilient_dask._state_machine import Transition

    moment = datetime.datetime(2026, 12, 1, 22, 0, 56, 273000).timestamp()
    blip = Transition(ConnectionState.CONNECTED, ConnectionState.UNRESPONSIVE, moment, "silent")

    class Cluster:
        def logs(self, tail: int | None = None) -> str:
            return "--- scheduler ---\nRemove worker"

    class Client:
        connection = SimpleNamespace(history=[blip])

        def explain(self, key: str) -> str:
            if key == "unreadable":
                raise OSError("scheduler gone")
            return f"story of {key}: queued since 22:00:56"

    stage = Stage(Cluster(), Client(), Progress(io.StringIO(), "lines"), lambda: None)  # type: ignore[arg-type]
    shown = runner.what_went_wrong(stage, ValueNotBack("demo-rc-3-square-0", 30, "pending"))
    assert "22:00:56.273 UNRESPONSIVE: silent" in shown
    assert "the scheduler's story of 'demo-rc-3-square-0':\nstory of demo-rc-3-square-0" in shown
    assert shown.endswith("--- scheduler ---\nRemove worker")
    unreadable = runner.what_went_wrong(stage, ValueNotBack("unreadable", 30, "pending"))
    assert "could not be read: OSError: scheduler gone" in unreadable


def test_expected_values_are_computed_from_the_shape() -> None:
    """The map squares, the chain counts its steps, the array sums squares."""
    shape = WorkloadShape(map_size=3, chain_length=4, array_size=5, array_chunk=2)
    assert shape.expected() == {"map": [0, 1, 4], "chain": 4, "array sum": 0 + 1 + 4 + 9 + 16}


# -- rendering --------------------------------------------------------------------------------


def test_summary_marks_the_wrong_value_and_lists_it() -> None:
    """A wrong value is WRONG in its scene's values line and listed under the verdict."""
    result = SceneResult(1, "a fault", ["plain saw this"], ["resilient did that"])
    result.values = {"scene 1: map": [0, 1], "scene 1: chain": 19}
    wrong = [Mismatch("scene 1: chain", 20, 19)]
    text = render_summary([result], wrong, checked=2, width=100)
    assert "map ok (2 values), chain WRONG (= 19)" in columns(text)[1][1]
    assert "1 of 2 values WRONG or missing:\n  - scene 1: chain: expected 20, got 19" in text
    assert "All " not in text


def test_side_by_side_wraps_each_column_without_splitting_words() -> None:
    """Both columns wrap at their width; a key longer than its column overflows it, whole."""
    key = "finalize-hlgfinalizecompute-2349fd09..."
    rows = side_by_side([f"error {key} cancelled"], ["a b c " * 8], width=43)
    assert [row.index(" |") for row in rows] == [20, len(key), 20]
    assert rows[1].startswith(key + " | ")
    assert " ".join(row.split(" |")[1].strip() for row in rows) == "a b c " * 7 + "a b c"


def test_lines_mode_writes_no_control_characters_and_quiet_writes_nothing() -> None:
    """Plain lines for pipes; the live status line is drawn only in live mode."""
    for mode, expect_status in (("lines", False), ("quiet", False), ("live", True)):
        stream = io.StringIO()
        progress = Progress(stream, mode, redraw_every=0)  # type: ignore[arg-type]
        progress.status(lambda: "7/52 results")
        progress.step("fault: SIGKILL the scheduler")
        progress.redraw()
        progress.close()
        text = stream.getvalue()
        assert ("\r" in text or "\x1b" in text) == expect_status, mode
        assert ("7/52 results" in text) == expect_status, mode
        assert ("fault: SIGKILL the scheduler" in text) == (mode != "quiet"), mode


def test_live_status_line_is_cut_to_the_terminal_width() -> None:
    """A status line wider than the terminal would wrap and could not be redrawn in place."""
    stream = io.StringIO()
    progress = Progress(stream, "live", redraw_every=0, width=40)
    progress.status(lambda: "x" * 100)
    progress.redraw()
    drawn = stream.getvalue().split("\x1b[2K")[-1]
    assert len(drawn) == 39 and drawn.endswith("x")


# -- observing blocking calls ------------------------------------------------------------------


def test_watched_call_reports_value_error_and_waiting() -> None:
    """A value, an exception (type and message) and a call still blocked after the bound."""
    assert WatchedCall(lambda: 42).observe(within=5).describe().startswith("returned 42 after")
    failed = WatchedCall(lambda: int("x")).observe(within=5)
    assert failed.outcome == "error"
    assert failed.describe() == "ValueError: invalid literal for int() with base 10: 'x'"
    release = threading.Event()
    blocked = WatchedCall(lambda: release.wait(5) and "done")
    waiting = blocked.observe(within=0.2)
    assert waiting.outcome == "waiting" and waiting.seconds >= 0.2
    assert waiting.describe() == f"still waiting after {waiting.seconds:.1f} s"
    release.set()
    assert blocked.observe(within=5).value == "done"


def test_describe_error_shortens_key_tokens_only() -> None:
    """32-digit key tokens are cut to 8 digits; the rest of the message is kept word for word."""
    error = RuntimeError("finalize-1d74e4111c6645a9ae7978bd6ece90bb cancelled\nsecond line\nthird")
    assert describe_error(error) == "RuntimeError: finalize-1d74e411... cancelled second line"
