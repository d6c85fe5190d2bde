"""`resilient-dask doctor` and `explain` against real schedulers and workers in subprocesses."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import dask.array as da
import pytest
from click.testing import CliRunner, Result
from distributed import Client, wait

from resilient_dask import ResilientClient
from resilient_dask.cli import main
from resilient_dask.testing import (
    ManagedProcess,
    SubprocessCluster,
    free_port,
    poll_for,
    scheduler_identity,
)

pytestmark = [pytest.mark.timeout(120), pytest.mark.cluster]

#: Scheduler settings that undermine resilience, given through its environment.
STRICT_ENV = {
    "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "2s",
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
    "DASK_DISTRIBUTED__SCHEDULER__IDLE_TIMEOUT": "1 hour",
}


def inc(x: int) -> int:
    return x + 1


def fail(x: int) -> int:
    raise ValueError(f"cannot explain {x}")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def doctor_output(address: str, exit_code: int) -> str:
    """Run the doctor (2 probes) on ``address``; check its exit code; return what it printed."""
    result = run("doctor", address, "--samples", "2")
    assert result.exit_code == exit_code, result.output
    assert result.stderr == ""
    return result.stdout


def words(text: str) -> str:
    """``text`` with its line wrapping (and column alignment) undone."""
    return " ".join(text.split())


def checks_reported(output: str) -> set[str]:
    """The check names of the findings in the doctor's text output."""
    return set(re.findall(r"^(?:ok|advice|PROBLEM) +([a-z-]+) ", output, flags=re.M))


def worker_addresses(address: str) -> set[str]:
    identity = scheduler_identity(address)
    assert identity is not None, f"the scheduler at {address} does not answer"
    return set(identity["workers"])


@pytest.fixture(scope="module")
def healthy() -> Iterator[SubprocessCluster]:
    """A scheduler with default settings and one nanny-managed worker."""
    with SubprocessCluster(n_workers=1) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def strict() -> Iterator[SubprocessCluster]:
    """A scheduler without workers whose environment sets a 2 s worker-ttl and more."""
    with SubprocessCluster(n_workers=0, env=STRICT_ENV) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def locked() -> Iterator[SubprocessCluster]:
    """A scheduler without workers that refuses run_on_scheduler (a blocked handler)."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__BLOCKED_HANDLERS": "['run_function']"}
    with SubprocessCluster(n_workers=0, env=env) as cluster:
        yield cluster


@pytest.fixture
def extra_worker(healthy: SubprocessCluster) -> Iterator[Callable[..., tuple[str, ManagedProcess]]]:
    """Add a worker to ``healthy``; it is killed afterwards and the cluster is one worker again."""
    added: list[ManagedProcess] = []

    def add(*options: str) -> tuple[str, ManagedProcess]:
        before = worker_addresses(healthy.scheduler_address)
        added.append(healthy.add_worker(options=options))
        [address] = worker_addresses(healthy.scheduler_address) - before
        return address, added[-1]

    yield add
    for proc in added:
        proc.kill()
        healthy.workers.remove(proc)
    poll_for(
        lambda: len(worker_addresses(healthy.scheduler_address)) == 1,
        30,
        message="the added workers left the scheduler",
    )


# -- doctor ------------------------------------------------------------------------------------


def test_healthy_cluster_has_no_problem(healthy: SubprocessCluster) -> None:
    """A default scheduler with a nanny worker: exit 0, nannies, versions and latency ok."""
    result = run("doctor", healthy.scheduler_address, "--samples", "5")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"resilient-dask doctor {healthy.scheduler_address}\n")
    assert "\nok       nannies             The worker runs under a nanny.\n" in result.stdout
    text = words(result.stdout)
    assert "PROBLEM" not in text
    assert "ok versions Client, scheduler and 1 worker run the same versions" in text
    assert "over 5 round trips of the probe" in text
    assert "ok worker-ttl distributed.scheduler.worker-ttl is 5 minutes" in text
    assert "ok allowed-failures distributed.scheduler.allowed-failures is 3" in text
    assert "exit status 0" in text
    assert result.stderr == ""


def test_json_output_carries_the_observed_facts(healthy: SubprocessCluster) -> None:
    """--format json: the measured round trips, the worker's nanny and the scheduler's settings."""
    result = run("doctor", healthy.scheduler_address, "--samples", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    facts = document["facts"]
    assert len(facts["latencies"]) == 3 and all(0 < t < 5 for t in facts["latencies"])
    [worker] = facts["workers"]
    assert worker["address"] in worker_addresses(healthy.scheduler_address)
    assert worker["nanny"] is not None and worker["status"] == "running"
    assert facts["scheduler"]["worker_ttl"] == 300.0
    assert facts["scheduler"]["allowed_failures"] == 3
    assert document["exit_code"] == 0 and document["summary"]["problem"] == 0


def test_worker_without_nanny_is_a_problem(
    healthy: SubprocessCluster, extra_worker: Callable[..., tuple[str, ManagedProcess]]
) -> None:
    """A worker started with --no-nanny is named as a problem with its fix; exit 1."""
    address, _ = extra_worker("--no-nanny")
    text = words(doctor_output(healthy.scheduler_address, exit_code=1))
    assert re.search(
        rf"PROBLEM nannies 1 of 2 workers runs without a nanny: worker-\d+ \({address}\)\.", text
    )
    assert "fix: Start workers with a nanny: `dask worker ADDRESS` does by default" in text
    assert "exit status 1" in text


def test_killed_worker_is_reported_as_a_loss(
    healthy: SubprocessCluster, extra_worker: Callable[..., tuple[str, ManagedProcess]]
) -> None:
    """A SIGKILLed worker shows up, from the scheduler's event log, as a worker that left."""
    address, proc = extra_worker()
    proc.kill()
    poll_for(
        lambda: address not in worker_addresses(healthy.scheduler_address),
        30,
        message=f"{address} removed",
    )
    text = words(doctor_output(healthy.scheduler_address, exit_code=0))
    assert "advice worker-losses" in text
    assert "left without being retired since the scheduler started" in text
    assert address in text


def test_retired_worker_is_the_adaptive_footprint(
    healthy: SubprocessCluster, extra_worker: Callable[..., tuple[str, ManagedProcess]]
) -> None:
    """A worker retired by name, as adaptive scaling retires them, shows up as advice."""
    address, _ = extra_worker()
    with Client(healthy.scheduler_address, set_as_default=False) as client:
        [name] = [
            w["name"] for a, w in client.scheduler_info()["workers"].items() if a == address
        ]
        retired = client.retire_workers(names=[name], close_workers=True)
    assert address in retired
    text = words(doctor_output(healthy.scheduler_address, exit_code=0))
    assert "advice adaptive The scheduler retired 1 worker in 1 retire_workers call" in text
    assert "cannot be seen from here" in text
    assert "fix: If retirements take workers whose state you need" in text


def test_scheduler_settings_from_its_environment_are_reported(strict: SubprocessCluster) -> None:
    """worker-ttl 2s and allowed-failures 0 are problems, idle-timeout advice; exit 1."""
    text = words(doctor_output(strict.scheduler_address, exit_code=1))
    assert "PROBLEM worker-ttl distributed.scheduler.worker-ttl is 2 s (below 30 s)" in text
    assert "fix: Set DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL='5 minutes'" in text
    assert "PROBLEM allowed-failures distributed.scheduler.allowed-failures is 0" in text
    assert "advice scheduler-timeouts distributed.scheduler.idle-timeout is 60 minutes" in text
    assert "advice workers No workers are connected" in text
    assert "here but" not in text, "nothing set here, so no 'setting here has no effect'"
    assert "2 problems" in text


def test_unreadable_settings_are_said_not_guessed(locked: SubprocessCluster) -> None:
    """run_on_scheduler refused: an advice names the gap and its fix; settings checks are silent."""
    output = doctor_output(locked.scheduler_address, exit_code=0)
    text = words(output)
    assert "advice observability Could not read the scheduler's settings" in text
    assert "'run_function' handler has been explicitly disallowed" in text
    assert "fix: Let the scheduler run functions for clients: remove run_function" in text
    reported = checks_reported(output)
    assert {"reachable", "latency", "observability"} <= reported
    assert reported.isdisjoint({"worker-ttl", "allowed-failures", "scheduler-timeouts"})


def test_nothing_listening_exits_2_with_the_fix() -> None:
    """No scheduler on the port: exit 2 at once, one paragraph saying so and what to check."""
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run("doctor", address, "--connect-timeout", "5")
    assert time.monotonic() - started < 5
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: Cannot reach the scheduler at {address}: nothing")
    assert "Check that the scheduler process (pod, job) is running" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_frozen_scheduler_fails_within_the_connect_timeout(strict: SubprocessCluster) -> None:
    """A SIGSTOPped scheduler: the command gives up after --connect-timeout, exit 2, no hang."""
    strict.freeze_scheduler()
    try:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "resilient_dask", "doctor", strict.scheduler_address,
             "--connect-timeout", "2"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        strict.thaw_scheduler()
    assert proc.returncode == 2, proc.stderr
    assert "did not answer as a Dask scheduler within 2 s" in proc.stderr
    assert "frozen (stopped with SIGSTOP" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert elapsed < 20, f"took {elapsed:.1f} s: 2 s of waiting plus interpreter start-up"
    assert scheduler_identity(strict.scheduler_address) is not None, "thawed and answering"


@pytest.fixture
def web_server() -> Iterator[int]:
    """A port where another service answers every connection with an HTTP error and closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):  # the socket is shut down at teardown
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, name="web_server", daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close() alone does not)
    server.close()
    thread.join(5)
    assert not thread.is_alive()


def test_another_service_on_the_port_exits_2(web_server: int) -> None:
    """A port that answers but not as a Dask scheduler: exit 2, the handshake named, no hang."""
    address = f"tcp://127.0.0.1:{web_server}"
    result = run("doctor", address, "--connect-timeout", "5")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: Cannot reach the scheduler at {address}: something answers on 127.0.0.1 port "
        f"{web_server}, but the Dask handshake failed"
    )
    assert "not another service's" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:8787"], "is a web address (the dashboard"),
        (["127.0.0.1"], "has no port"),
        (["tcp://127.0.0.1:8786", "--connect-timeout", "-1"], "not a positive duration"),
        (["tcp://127.0.0.1:8786", "--samples", "0"], "--samples"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], message: str) -> None:
    """A malformed address or option exits 2 with a message naming it, before connecting."""
    result = run("doctor", *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


# -- explain ------------------------------------------------------------------------------------


@pytest.fixture
def rc(healthy: SubprocessCluster, make_client: Callable[..., ResilientClient]) -> ResilientClient:
    return make_client(healthy.scheduler_address)


def test_explain_prints_what_rc_explain_shows(
    rc: ResilientClient, healthy: SubprocessCluster
) -> None:
    """explain KEY of a computed task prints its timeline, the same text as rc.explain(key)."""
    future = rc.submit(inc, 41)
    assert future.result(timeout=30) == 42
    result = run("explain", str(future.key), "--scheduler", healthy.scheduler_address)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"Task {str(future.key)!r}: memory"
    assert "waiting -> processing" in result.stdout and "processing -> memory" in result.stdout
    assert result.stdout == rc.explain(future.key) + "\n"


def test_explain_of_an_erred_task_shows_worker_and_error(
    rc: ResilientClient, healthy: SubprocessCluster
) -> None:
    """explain KEY of a failed task names the worker it failed on and the error."""
    future = rc.submit(fail, 3)
    wait([future], timeout=30)
    result = run("explain", str(future.key), "--scheduler", healthy.scheduler_address)
    assert result.exit_code == 0, result.output
    [worker] = worker_addresses(healthy.scheduler_address)
    assert "processing -> erred" in result.stdout
    assert f"Workers: {worker}" in result.stdout
    assert "Error: ValueError('cannot explain 3')" in result.stdout


def test_explain_of_a_tuple_key(rc: ResilientClient, healthy: SubprocessCluster) -> None:
    """A chunk of a persisted array is found by its tuple key written as a literal."""
    array = rc.persist(da.arange(4, chunks=2))
    wait(array, timeout=30)
    key = (array.name, 1)
    result = run("explain", repr(key), "--scheduler", healthy.scheduler_address)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"Task {str(key)!r}: memory"


def test_explain_of_an_unknown_key_exits_1(healthy: SubprocessCluster) -> None:
    """A key the scheduler never saw: exit 1 and a message on how to give the right key."""
    result = run("explain", "no-such-task-123", "--scheduler", healthy.scheduler_address)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "knows no task 'no-such-task-123'" in result.stderr
    assert "print(future.key)" in result.stderr


def test_explain_on_a_scheduler_refusing_run_function_exits_2(locked: SubprocessCluster) -> None:
    """explain cannot read the story when run_function is blocked: exit 2, and how to allow it."""
    result = run("explain", "x", "--scheduler", locked.scheduler_address)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: The scheduler at {locked.scheduler_address} did not give the task's story"
    )
    assert "remove run_function from distributed.scheduler.blocked-handlers" in result.stderr
    assert "Traceback" not in result.stderr


def test_explain_with_nothing_listening_exits_2() -> None:
    """explain against a dead address gives doctor's message and exit 2."""
    address = f"tcp://127.0.0.1:{free_port()}"
    result = run("explain", "x", "--scheduler", address, "--connect-timeout", "5")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: Cannot reach the scheduler at {address}: nothing")
