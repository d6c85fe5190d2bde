"""The chaos soak (benchmarks/soak.py): its seeded plan and bookkeeping, and its short form.

The short form runs the real thing: a scheduler and nanny-managed workers in
subprocesses, a ResilientClient(resubmit=True) through a TcpProxy, and a seeded
schedule of scheduler kills and restarts, freezes, worker kills and connection cuts
over a mixed workload. It asserts the soak's target: every future correct, no wrong
value, no untyped error, no hang. ``RESILIENT_DASK_SOAK_SEED`` runs it with another seed.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import soak  # noqa: E402
from _soak_core import run_soak  # noqa: E402
from _soak_plan import (  # noqa: E402
    FAULT_KINDS,
    Outcome,
    ProbeResult,
    Record,
    SoakConfig,
    SoakReport,
    plan,
    same,
)

#: The short form CI runs: every fault kind (both freezes) twice or more, > 1,000 futures.
SHORT = SoakConfig(tasks=1_200, faults=10, seed=int(os.environ.get("RESILIENT_DASK_SOAK_SEED", 7)))


# -- the plan: pure, no processes ------------------------------------------------------------


@pytest.mark.timeout(30)
def test_the_same_seed_plans_the_same_schedule_and_workload() -> None:
    """plan() is a function of the config: same seed, same faults, jobs and expected values."""
    first, second = plan(SoakConfig(seed=3)), plan(SoakConfig(seed=3))
    assert first.faults == second.faults
    assert first.describe() == second.describe()
    assert [(j.shape, j.inputs, j.salt) for j in first.jobs] == [
        (j.shape, j.inputs, j.salt) for j in second.jobs
    ]
    other = plan(SoakConfig(seed=4))
    assert [f.kind for f in other.faults] != [f.kind for f in first.faults] or (
        other.jobs[0].salt != first.jobs[0].salt
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize("seed", range(20))
def test_five_or_more_faults_cover_every_kind_and_both_freezes(seed: int) -> None:
    """Any plan of at least 5 faults has each kind, one freeze below and one above the cut-off."""
    config = SoakConfig(faults=5, tasks=200, seed=seed)
    faults = plan(config).faults
    assert {f.kind for f in faults} == set(FAULT_KINDS)
    freezes = [f.duration for f in faults if f.kind == "freeze"]
    assert min(freezes) < config.unresponsive_timeout < max(freezes)


@pytest.mark.timeout(30)
def test_the_default_plan_meets_the_issue_minimums() -> None:
    """The default soak: at least 2,000 futures and 20 faults, all of the workload's shapes."""
    the_plan = plan(SoakConfig())
    assert the_plan.tasks >= 2_000 and len(the_plan.faults) >= 20
    assert {j.shape for j in the_plan.jobs} >= {"submit", "map", "chain", "tree", "array", "join"}


@pytest.mark.timeout(30)
def test_reports_count_every_non_correct_outcome_as_a_problem() -> None:
    """A wrong value, an untyped error, a hang or a failed probe each fail the target."""
    the_plan = plan(SoakConfig(tasks=10, faults=1))
    clean = SoakReport(
        the_plan, collections.Counter({Outcome.CORRECT: 10}), collections.Counter(),
        collections.Counter(), collections.Counter({"returned": 3}), [], collections.Counter(), 1.0,
    )  # fmt: skip
    assert clean.passed and "RESULT: PASS" in clean.table()
    for outcome in (Outcome.WRONG, Outcome.UNTYPED, Outcome.HANG, Outcome.TYPED):
        bad = dataclasses.replace(
            clean, first=collections.Counter({Outcome.CORRECT: 9, outcome: 1})
        )
        assert bad.problems() == [f"1 futures: {outcome}"], outcome
    hung_call = dataclasses.replace(clean, calls=collections.Counter({"hang": 1}))
    assert hung_call.problems() == ["1 blocking calls: hang"]
    probe = ProbeResult(0, 5.0, "returned", Outcome.CORRECT)  # a long freeze must interrupt
    assert "expected SchedulerUnresponsive" in dataclasses.replace(clean, probes=[probe]).table()


@pytest.mark.timeout(30)
def test_a_held_future_counts_as_correct_only_if_every_read_was() -> None:
    """A held future right at first but unread (or wrong) at the end is not counted correct."""
    assert Record(0, Outcome.CORRECT, Outcome.CORRECT).counted(held=True) is Outcome.CORRECT
    assert Record(0, Outcome.CORRECT, None).counted(held=True) is Outcome.HANG
    assert Record(0, Outcome.CORRECT, Outcome.WRONG).counted(held=True) is Outcome.WRONG
    assert Record(0, Outcome.TYPED, None, Outcome.CORRECT).counted_after_guidance(False) is (
        Outcome.CORRECT
    )


@pytest.mark.timeout(30)
def test_values_compare_with_their_type() -> None:
    """NumPy integers equal ints; an int is not a bool; arrays compare element-wise with dtype."""
    import numpy as np

    assert same(np.int64(5), 5) and not same(True, 1) and not same(5.0, 5)
    assert same(np.arange(3), np.arange(3)) and not same(np.arange(3.0), np.arange(3))


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tasks", "0"], "--tasks: must be an integer >= 1 (e.g. 2000), got '0'"),
        (["--faults", "x"], "--faults: must be an integer >= 0 (e.g. 20), got 'x'"),
        (["--hang-after", "-1"], "--hang-after: must be a positive number of seconds"),
        (["--unresponsive-timeout", "1"], "soak freezes must straddle unresponsive_timeout=1.0"),
    ],
)
def test_bad_options_exit_2_naming_the_value(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """soak.py with a bad option exits 2 with one line naming the option and value."""
    with pytest.raises(SystemExit) as info:
        soak.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# -- the short form: real processes, real faults ---------------------------------------------


@pytest.mark.cluster
@pytest.mark.soak
@pytest.mark.timeout(600)
def test_short_soak_every_future_correct_no_untyped_error_no_hang() -> None:
    """Ten seeded faults of every kind, 1,200 futures: all correct; none wrong, untyped or hung."""
    progress: list[str] = []
    report = run_soak(SHORT, progress.append)
    detail = "\n".join([*progress, report.table()])
    assert {f.kind for f in report.plan.faults} == set(FAULT_KINDS), detail
    assert report.tasks == report.plan.tasks >= SHORT.tasks, detail
    assert report.first[Outcome.CORRECT] == report.tasks, detail
    assert not any(call.startswith("untyped") or call == "hang" for call in report.calls), detail
    assert len(report.probes) == sum(f.kind == "freeze" for f in report.plan.faults), detail
    assert report.problems() == [], detail
