"""The doctor's pure parts: checks on fabricated facts, addresses, keys, events, rendering."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import dask
import pytest

from resilient_dask.doctor import checks
from resilient_dask.doctor.address import AddressError, SchedulerAddress, parse_address
from resilient_dask.doctor.facts import (
    ClientSettings,
    ClusterEvents,
    Facts,
    Gap,
    Retirement,
    SchedulerSettings,
    TtlTimeout,
    WorkerFacts,
    WorkerLoss,
    summarize_events,
    versions_by_role,
)
from resilient_dask.doctor.findings import Finding, exit_code
from resilient_dask.doctor.gather import client_settings
from resilient_dask.doctor.render import render_json, render_text
from resilient_dask.doctor.story import BadKey, parse_key

pytestmark = pytest.mark.timeout(30)

PACKAGES = {
    "python": "3.11.7.final.0",
    "dask": "2026.8.0",
    "distributed": "2026.8.0",
    "cloudpickle": "3.1.1",
    "msgpack": "1.1.0",
    "tornado": "6.5",
    "toolz": "1.0.0",
    "numpy": "2.3.0",
    "pandas": "2.3.1",
    "lz4": "4.4.4",
}
W1, W2 = "tcp://10.0.0.2:40001", "tcp://10.0.0.3:40001"
DEFAULTS = SchedulerSettings(worker_ttl=300.0, allowed_failures=3)

#: A cluster with nothing to complain about: two nanny workers, defaults, resubmit on.
HEALTHY = Facts(
    address="tcp://10.0.0.1:8786",
    scheduler_id="Scheduler-1",
    started=1000.0,
    now=1600.0,
    workers=(
        WorkerFacts(W1, "w1", "tcp://10.0.0.2:40000", silent_for=0.4),
        WorkerFacts(W2, "w2", "tcp://10.0.0.3:40000", silent_for=0.2),
    ),
    latencies=(0.001, 0.002, 0.0015, 0.001, 0.003),
    versions={"client": PACKAGES, "scheduler": PACKAGES, W1: PACKAGES, W2: PACKAGES},
    scheduler=DEFAULTS,
    events=ClusterEvents(),
    client=ClientSettings(resubmit=True),
)


def with_(**changes: Any) -> Facts:
    return dataclasses.replace(HEALTHY, **changes)


def scheduler(**changes: Any) -> Facts:
    return with_(scheduler=dataclasses.replace(DEFAULTS, **changes))


def client(**changes: Any) -> Facts:
    return with_(client=dataclasses.replace(HEALTHY.client, **changes))


def only(findings: list[Finding], severity: str) -> Finding:
    """The single finding of ``findings``, which must have ``severity``."""
    assert len(findings) == 1, findings
    [finding] = findings
    assert finding.severity == severity, finding
    return finding


def test_a_healthy_cluster_gets_only_ok_findings() -> None:
    """Every check passes on the healthy facts, and the exit code is 0."""
    findings = checks.run_checks(HEALTHY)
    assert [f for f in findings if f.severity != "ok"] == []
    assert {f.check for f in findings} >= {
        "reachable", "latency", "workers", "nannies", "versions", "worker-ttl",
        "allowed-failures", "scheduler-timeouts", "adaptive", "worker-losses", "client-config",
    }  # fmt: skip
    assert exit_code(findings) == 0


def test_findings_without_a_fix_are_refused() -> None:
    """An advice or problem must carry its fix; the severity must be known."""
    with pytest.raises(ValueError, match="needs a fix"):
        Finding("x", "problem", "broken")
    with pytest.raises(ValueError, match="severity"):
        Finding("x", "fatal", "broken", "fix it")  # type: ignore[arg-type]


def test_only_problems_set_the_exit_code() -> None:
    """Advice alone exits 0; one problem exits 1."""
    hint = Finding("a", "advice", "consider", "do it")
    assert exit_code([hint]) == 0
    assert exit_code([hint, Finding("b", "problem", "broken", "fix it")]) == 1


# -- latency -------------------------------------------------------------------------------------


def test_latency_reports_median_and_max() -> None:
    """The ok message names median and max round trip and the number of probes."""
    finding = only(checks.check_latency(HEALTHY), "ok")
    assert "median 1.5 ms, max 3.0 ms over 5 round trips" in finding.message


def test_latency_above_probe_timeout_is_a_problem() -> None:
    """A median round trip at or above resilient-dask.probe-timeout is a problem."""
    finding = only(checks.check_latency(with_(latencies=(6.0, 7.0, 5.5))), "problem")
    assert "probe-timeout (5 s)" in finding.message and "UNRESPONSIVE" in finding.message
    assert "resilient-dask.probe-timeout above 7 s" in (finding.fix or "")


def test_occasional_slow_round_trip_is_advice() -> None:
    """One probe slower than probe-timeout is advice (the client would flap)."""
    finding = only(checks.check_latency(with_(latencies=(0.001, 0.002, 6.0))), "advice")
    assert "flap" in finding.message


def test_slow_scheduler_is_advice() -> None:
    """A median above 250 ms is advice even below probe-timeout."""
    only(checks.check_latency(with_(latencies=(0.4, 0.5, 0.6))), "advice")


# -- workers and nannies -------------------------------------------------------------------------


def test_no_workers_is_advice() -> None:
    """Zero workers: advice to start some; the nanny check has nothing to say."""
    finding = only(checks.check_workers(with_(workers=())), "advice")
    assert "dask worker tcp://10.0.0.1:8786" in (finding.fix or "")
    assert checks.check_nannies(with_(workers=())) == []


def test_worker_without_nanny_is_a_problem_naming_it() -> None:
    """A worker without a nanny is a problem that names it and says how to add one."""
    bare = dataclasses.replace(HEALTHY.workers[1], nanny=None)
    finding = only(checks.check_nannies(with_(workers=(HEALTHY.workers[0], bare))), "problem")
    assert finding.message.startswith("1 of 2 workers runs without a nanny: w2 (tcp://10.0.0.3")
    assert "--no-nanny" in (finding.fix or "") and "distributed.Nanny" in (finding.fix or "")


def test_silent_worker_is_a_problem() -> None:
    """A worker without a heartbeat for over 30 s is a problem pointing at watch_workers."""
    stuck = dataclasses.replace(HEALTHY.workers[0], silent_for=95.0)
    findings = checks.check_workers(with_(workers=(stuck, HEALTHY.workers[1])))
    finding = only(findings, "problem")
    assert "1 worker sent no heartbeat for more than 30 s (up to 95 s): w1" in finding.message
    assert "rc.watch_workers" in (finding.fix or "")


def test_paused_and_closing_workers_are_advice() -> None:
    """Paused and closing workers are each named in an advice."""
    paused = dataclasses.replace(HEALTHY.workers[0], status="paused")
    closing = dataclasses.replace(HEALTHY.workers[1], status="closing_gracefully")
    findings = checks.check_workers(with_(workers=(paused, closing)))
    assert [f.severity for f in findings] == ["advice", "advice"]
    assert "paused" in findings[0].message and "w1" in findings[0].message
    assert "w2 (tcp://10.0.0.3:40001) is closing_gracefully" in findings[1].message


# -- versions ------------------------------------------------------------------------------------


def test_distributed_mismatch_is_a_problem_naming_who_runs_what() -> None:
    """A worker with another distributed version: problem, both versions and roles named."""
    old = {**PACKAGES, "distributed": "2026.7.0"}
    facts = with_(versions={"client": PACKAGES, "scheduler": PACKAGES, W1: PACKAGES, W2: old})
    finding = only(checks.check_versions(facts), "problem")
    assert finding.message.startswith(
        f"distributed differs: 2026.8.0 on client, scheduler, worker {W1}; "
        f"2026.7.0 on worker {W2}."
    )
    assert "the scheduler has 2026.8.0" in (finding.fix or "")


def test_python_minor_mismatch_is_a_problem_and_patch_mismatch_advice() -> None:
    """3.10 vs 3.11 is a problem; 3.11.7 vs 3.11.9 only advice."""
    minor = {**PACKAGES, "python": "3.10.14.final.0"}
    patch = {**PACKAGES, "python": "3.11.9.final.0"}
    base = {"client": PACKAGES, "scheduler": PACKAGES, W1: PACKAGES}
    finding = only(checks.check_versions(with_(versions={**base, W2: minor})), "problem")
    assert finding.message.startswith("Python differs:")
    only(checks.check_versions(with_(versions={**base, W2: patch})), "advice")


def test_numpy_on_the_scheduler_is_not_compared() -> None:
    """A scheduler without numpy is fine; a worker with another numpy than the client is advice."""
    no_numpy = {**PACKAGES, "numpy": None}
    facts = with_(versions={"client": PACKAGES, "scheduler": no_numpy, W1: PACKAGES})
    only(checks.check_versions(facts), "ok")
    other = {**PACKAGES, "numpy": "1.26.4"}
    mixed = with_(versions={"client": PACKAGES, "scheduler": PACKAGES, W1: other})
    finding = only(checks.check_versions(mixed), "advice")
    assert f"1.26.4 on worker {W1}" in finding.message


def test_unknown_versions_are_not_checked() -> None:
    """Without versions (a gap), the check says nothing rather than guessing."""
    assert checks.check_versions(with_(versions=None)) == []


# -- scheduler settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "severity", "phrase"),
    [
        (None, "problem", "worker-ttl is off"),
        (10.0, "problem", "worker-ttl is 10 s (below 30 s)"),
        (3600.0, "advice", "worker-ttl is 60 minutes"),
        (300.0, "ok", "worker-ttl is 5 minutes"),
    ],
)
def test_worker_ttl(ttl: float | None, severity: str, phrase: str) -> None:
    """worker-ttl off or short is a problem, very long is advice, the default is ok."""
    finding = only(checks.check_worker_ttl(scheduler(worker_ttl=ttl)), severity)
    assert phrase in finding.message
    if severity != "ok":
        assert "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL" in (finding.fix or "")


@pytest.mark.parametrize(
    ("allowed", "severity", "phrase"),
    [
        (0, "problem", "the first worker that dies"),
        (25, "advice", "takes down 26 workers"),
        (3, "ok", "until 4 workers died"),
    ],
)
def test_allowed_failures(allowed: int, severity: str, phrase: str) -> None:
    """allowed-failures 0 is a problem, very high is advice, the default is ok."""
    finding = only(checks.check_allowed_failures(scheduler(allowed_failures=allowed)), severity)
    assert phrase in finding.message


def test_idle_and_no_workers_timeouts_are_advice() -> None:
    """idle-timeout and no-workers-timeout each get an advice with the variable to unset."""
    findings = checks.check_scheduler_timeouts(
        scheduler(idle_timeout=3600.0, no_workers_timeout=60.0)
    )
    assert [f.severity for f in findings] == ["advice", "advice"]
    assert "idle-timeout is 60 minutes" in findings[0].message
    assert "IDLE_TIMEOUT" in (findings[0].fix or "")
    assert "no-workers-timeout is 60 s" in findings[1].message


def test_scheduler_checks_are_silent_without_its_settings() -> None:
    """When the scheduler's settings could not be read, those checks return nothing."""
    unknown = with_(scheduler=None)
    for check in (
        checks.check_worker_ttl,
        checks.check_allowed_failures,
        checks.check_scheduler_timeouts,
    ):
        assert check(unknown) == []


# -- adaptive and worker losses -------------------------------------------------------------------


def test_retirements_are_advice_that_admits_what_cannot_be_seen() -> None:
    """Retirements are counted, pins mentioned, and the message says adaptive itself is unseen."""
    events = ClusterEvents(
        retirements=(Retirement(1.0, (W1,)), Retirement(2.0, (W2,), ("tcp://10.0.0.4:1",)))
    )
    facts = with_(events=events, scheduler=dataclasses.replace(DEFAULTS, pin_leases=1))
    finding = only(checks.check_adaptive(facts), "advice")
    assert "retired 2 workers in 2 retire_workers calls" in finding.message
    assert "1 could not be retired" in finding.message
    assert "1 rc.pin_workers() lease active" in finding.message
    assert "cannot be seen from here" in finding.message
    assert "rc.pin_workers" in (finding.fix or "")


def test_no_retirements_is_ok_and_still_honest() -> None:
    """Without retirements the finding is ok but still says adaptive cannot be seen."""
    finding = only(checks.check_adaptive(HEALTHY), "ok")
    assert "cannot be seen from here" in finding.message


def test_wait_count_of_one_is_advice() -> None:
    """distributed.adaptive.wait-count 1 here is advice to keep the default 3."""
    findings = checks.check_adaptive(client(adaptive_wait_count=1))
    assert [f.severity for f in findings] == ["advice", "ok"]
    assert "WAIT_COUNT=3" in (findings[0].fix or "")


def test_worker_losses_and_ttl_timeouts_are_advice() -> None:
    """Unexpected removals and worker-ttl expiries are each an advice naming the workers."""
    events = ClusterEvents(
        losses=(WorkerLoss(1.0, W1, processing=2), WorkerLoss(5.0, W1, processing=1)),
        ttl_timeouts=(TtlTimeout(3.0, (W2,), 300.0),),
    )
    loss, ttl = checks.check_worker_losses(with_(events=events))
    assert loss.severity == ttl.severity == "advice"
    assert "2 workers left without being retired" in loss.message
    assert f": {W1};" in loss.message and "3 running tasks" in loss.message
    assert f"worker-ttl expired for 1 worker: {W2}" in ttl.message


# -- configuration here -------------------------------------------------------------------------


def test_short_connect_timeout_is_a_problem() -> None:
    """A connect timeout under 10 s is a problem: it is the reconnect window too."""
    finding = only(checks.check_client_config(client(connect_timeout=3.0)), "problem")
    assert "distributed.comm.timeouts.connect is 3 s" in finding.message
    assert "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT" in (finding.fix or "")


def test_probe_timeout_not_below_unresponsive_timeout_is_a_problem() -> None:
    """probe-timeout >= unresponsive-timeout is a problem."""
    facts = client(probe_timeout=60.0, unresponsive_timeout=30.0)
    finding = only(checks.check_client_config(facts), "problem")
    assert "unresponsive-timeout (30 s) is not longer" in finding.message


def test_resubmit_off_is_advice() -> None:
    """resubmit off is advice (not a problem: side effects may make it deliberate)."""
    finding = only(checks.check_client_config(client(resubmit=False)), "advice")
    assert "DASK_RESILIENT_DASK__RESUBMIT=true" in (finding.fix or "")


def test_scheduler_setting_only_made_here_is_advice() -> None:
    """allowed-failures set here but not on the scheduler: advice that it has no effect there."""
    finding = only(
        checks.check_client_config(client(scheduler_overrides={"allowed-failures": 10})), "advice"
    )
    assert "allowed-failures is set to 10 here but is 3 on the scheduler" in finding.message
    unchanged = client(scheduler_overrides={"worker-ttl": 300.0})
    assert "here but" not in checks.check_client_config(unchanged)[0].message


def test_invalid_config_here_is_a_problem_quoting_the_error() -> None:
    """A config value that does not parse is a problem carrying the validation message."""
    finding = only(checks.check_client_config(client(errors=("bad value 'x'",))), "problem")
    assert finding.message == "bad value 'x'"


def test_client_settings_read_dask_config() -> None:
    """client_settings() reads this process's dask config, and reports invalid values."""
    with dask.config.set(
        {
            "distributed.comm.timeouts.connect": "3s",
            "resilient-dask.resubmit": True,
            "distributed.adaptive.wait-count": 1,
        }
    ):
        settings = client_settings()
    assert settings.connect_timeout == 3.0 and settings.resubmit is True
    assert settings.adaptive_wait_count == 1 and settings.errors == ()
    assert settings.scheduler_overrides == {}, "distributed's defaults are not overrides"
    with dask.config.set(
        {"distributed.scheduler.allowed-failures": 7, "distributed.scheduler.worker-ttl": None}
    ):
        settings = client_settings()
    assert settings.scheduler_overrides == {"allowed-failures": 7, "worker-ttl": None}
    with dask.config.set({"resilient-dask.probe-timeout": "soon"}):
        settings = client_settings()
    assert settings.probe_timeout is None
    [error] = settings.errors
    assert "'probe_timeout'" in error and "'soon'" in error


def test_gaps_become_advice_with_their_fix() -> None:
    """What could not be observed is said, as advice carrying the gap's fix."""
    facts = with_(gaps=(Gap("Could not read X.", "Allow X."),))
    finding = only(checks.check_gaps(facts), "advice")
    assert (finding.message, finding.fix) == ("Could not read X.", "Allow X.")


# -- facts from distributed's raw answers ----------------------------------------------------------


def test_summarize_events_picks_the_resilience_events() -> None:
    """Retirements, unexpected removals and ttl timeouts are kept; expected removals are not."""
    everything = [
        (1.0, {"action": "add-worker", "worker": W1}),
        (2.0, {"action": "retire-workers", "retired": [W1], "could-not-retire": []}),
        (2.5, {"action": "retire-workers", "retired": [], "could-not-retire": []}),
        (3.0, {"action": "remove-worker", "worker": W1, "expected": True}),
        (4.0, {"action": "remove-worker", "worker": W2, "expected": False,
               "processing-tasks": ["a", "b"]}),
    ]  # fmt: skip
    scheduler_log = [(5.0, {"action": "worker-ttl-timed-out", "workers": [W2], "ttl": 300})]
    events = summarize_events(everything, scheduler_log)
    assert events.retirements == (Retirement(2.0, (W1,), ()),)
    assert events.losses == (WorkerLoss(4.0, W2, 2),)
    assert events.ttl_timeouts == (TtlTimeout(5.0, (W2,), 300.0),)


def test_versions_by_role_flattens_get_versions() -> None:
    """get_versions' nested answer becomes {role: packages}, workers by address."""
    raw = {
        "client": {"host": {}, "packages": {"dask": "1"}},
        "scheduler": {"host": {}, "packages": {"dask": "1"}},
        "workers": {W2: {"packages": {"dask": "2"}}, W1: {"packages": {"dask": "1"}}},
    }
    assert versions_by_role(raw) == {
        "client": {"dask": "1"},
        "scheduler": {"dask": "1"},
        W1: {"dask": "1"},
        W2: {"dask": "2"},
    }


# -- addresses and keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tcp://10.0.0.1:8786", SchedulerAddress("tcp", "10.0.0.1", 8786)),
        ("scheduler:8786", SchedulerAddress("tcp", "scheduler", 8786)),
        ("TLS://host:1/", SchedulerAddress("tls", "host", 1)),
        ("[::1]:8786", SchedulerAddress("tcp", "::1", 8786)),
    ],
)
def test_valid_addresses_parse(text: str, expected: SchedulerAddress) -> None:
    """Scheme defaults to tcp; IPv6 hosts in brackets; url round-trips."""
    parsed = parse_address(text)
    assert parsed == expected
    assert parse_address(parsed.url) == parsed


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "empty"),
        ("http://host:8787", "dashboard"),
        ("udp://host:1", "unknown scheme 'udp'"),
        ("host", "has no port"),
        ("tcp://:8786", "has no host"),
        ("host:port", "'port' in 'host:port' is not a port number"),
        ("host:70000", "not a port number"),
        ("::1:8786", "needs brackets"),
        ("[::1]", "no port after the IPv6"),
    ],
)
def test_bad_addresses_say_what_is_wrong(text: str, phrase: str) -> None:
    """Each malformed address is refused with the reason and an example of a good one."""
    with pytest.raises(AddressError) as info:
        parse_address(text)
    assert phrase in str(info.value)
    assert "://" in str(info.value), "an example address"


def test_keys_parse_as_strings_or_tuple_literals() -> None:
    """A plain key is a string; "('x', 0)" is the tuple key; a broken literal is refused."""
    assert parse_key("inc-abc123") == "inc-abc123"
    assert parse_key("('array-abc', 0, 1)") == ("array-abc", 0, 1)
    for bad in ("(1,", "()", ""):
        with pytest.raises(BadKey):
            parse_key(bad)


# -- rendering ------------------------------------------------------------------------------------


def test_text_rendering_shows_fix_and_summary() -> None:
    """Text output: one block per finding, fixes indented under it, the exit status last."""
    facts = dataclasses.replace(
        scheduler(allowed_failures=0),
        client=dataclasses.replace(HEALTHY.client, scheduler_overrides={"allowed-failures": 0}),
    )
    text = render_text(facts, checks.run_checks(facts))
    assert text.startswith("resilient-dask doctor tcp://10.0.0.1:8786\n")
    assert "\nPROBLEM  allowed-failures    distributed.scheduler.allowed-failures is 0" in text
    assert "fix: Set DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=3" in text
    assert text.rstrip().endswith(
        "1 problem, 0 advice, 10 ok: exit status 1 "
        "(only problems fail; advice leaves the exit status alone)."
    )
    assert max(len(line) for line in text.splitlines()) <= 100


def test_json_rendering_carries_findings_and_facts() -> None:
    """JSON output has the exit code, counts, findings and the facts behind them."""
    document = json.loads(render_json(HEALTHY, checks.run_checks(HEALTHY)))
    assert document["exit_code"] == 0
    assert document["summary"] == {"ok": 11, "advice": 0, "problem": 0}
    assert document["facts"]["workers"][0]["nanny"] == "tcp://10.0.0.2:40000"
    assert {f["check"] for f in document["findings"]} >= {"nannies", "versions"}
