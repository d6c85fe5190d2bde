"""The chaos soak's plan and its bookkeeping: pure data, no processes, no client.

``plan(config)`` turns a seed into a fault schedule and a workload (every task's
expected value computed here, locally); ``classify`` and :class:`SoakReport` decide
what each future's outcome was and whether the run met the target. The runner in
``_soak_core.py`` does the I/O. The task functions live here too because workers
must import them: the soak passes its ``sys.path`` on to the subprocess cluster.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import random
import time
from typing import Any

import numpy as np

#: Task values stay below this prime, so that every function mixes its inputs.
PRIME = 1_000_003

#: The four fault kinds of the issue ("freeze" comes in a short and a long variant).
FAULT_KINDS = ("restart", "freeze", "worker-kill", "cut")
#: Each run of at least five faults has one of each of these, the rest are random.
_VARIANTS = ("restart", "freeze-short", "freeze-long", "worker-kill", "cut")

SHAPES = ("submit", "map", "chain", "tree", "array", "join", "array-reduce")


# -- task functions (run on the workers) ---------------------------------------------


def step(x: int, salt: int, delay: float = 0.0) -> int:
    """One task: sleeps ``delay`` (so that some work is in flight when a fault hits)."""
    if delay:
        time.sleep(delay)
    return (x * 31 + salt) % PRIME


def combine(a: int, b: int) -> int:
    """Inner node of a tree; not commutative, so swapped inputs give a wrong value."""
    return (a * 7 + b) % PRIME


def weighted_total(values: list[int]) -> int:
    """A join over another job's futures; order-sensitive for the same reason."""
    return sum((i + 1) * v for i, v in enumerate(values)) % PRIME


def inner_nodes(leaves: list[Any], pair: Any) -> list[Any]:
    """Every inner node of a pairwise reduction of ``leaves``, in the order made.

    An odd one out moves up a level. Used both for the expected values
    (``pair=combine``) and to submit a tree (``pair`` submits ``combine``), so both
    walk the same shape.
    """
    made: list[Any] = []
    level = list(leaves)
    while len(level) > 1:
        upper = [pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        made.extend(upper)
        if len(level) % 2:
            upper.append(level[-1])
        level = upper
    return made


# -- configuration ------------------------------------------------------------------------


def _positive(name: str, value: float, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"soak option {name} must be a positive number, got {value!r}; {fix}")


def _span(name: str, value: tuple[float, float]) -> None:
    low, high = value
    if not 0 < low <= high:
        raise ValueError(
            f"soak option {name} must be (low, high) with 0 < low <= high, got {value!r}"
        )


@dataclasses.dataclass(frozen=True)
class SoakConfig:
    """What to run. Durations in seconds; validated on construction."""

    tasks: int = 2_000
    faults: int = 20
    seed: int = 0
    workers: int = 2
    #: Every future and blocking call must be done this long after the last fault.
    hang_after: float = 60.0
    probe_interval: float = 0.2
    probe_timeout: float = 1.0
    unresponsive_timeout: float = 3.5
    resubmit_timeout: float = 30.0
    #: Seconds between submitting a wave and injecting its fault.
    gap: tuple[float, float] = (0.3, 1.5)
    #: Freezes shorter than unresponsive_timeout (calls keep waiting) ...
    short_freeze: tuple[float, float] = (1.2, 2.0)
    #: ... and longer (blocking calls raise SchedulerUnresponsive).
    long_freeze: tuple[float, float] = (4.5, 6.0)

    def __post_init__(self) -> None:
        for name, value, low in (("tasks", self.tasks, 1), ("faults", self.faults, 0),
                                 ("workers", self.workers, 1)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"soak option {name} must be an integer >= {low}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"soak option seed must be an integer, got {self.seed!r}")
        _positive("hang_after", self.hang_after, "give the bound in seconds, e.g. 60")
        for name in ("probe_interval", "probe_timeout", "unresponsive_timeout",
                     "resubmit_timeout"):  # fmt: skip
            _positive(name, getattr(self, name), "give a duration in seconds")
        for name in ("gap", "short_freeze", "long_freeze"):
            _span(name, getattr(self, name))
        if not self.short_freeze[1] < self.unresponsive_timeout < self.long_freeze[0]:
            raise ValueError(
                f"soak freezes must straddle unresponsive_timeout={self.unresponsive_timeout}: "
                f"short_freeze={self.short_freeze} must end below it and "
                f"long_freeze={self.long_freeze} start above it"
            )


# -- the plan ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Fault:
    """One fault: injected ``gap`` seconds after its wave was submitted."""

    index: int
    kind: str
    gap: float
    #: How long a freeze lasts (0 for the other kinds).
    duration: float = 0.0
    #: Which live worker a worker kill hits (modulo how many are alive).
    victim: int = 0

    def describe(self, unresponsive_timeout: float) -> str:
        if self.kind == "restart":
            return "scheduler SIGKILL, restarted on the same port, workers respawned"
        if self.kind == "freeze":
            side = "below" if self.duration < unresponsive_timeout else "above"
            return (
                f"scheduler SIGSTOP for {self.duration:.1f} s ({side} "
                f"unresponsive_timeout={unresponsive_timeout:g} s), then SIGCONT"
            )
        if self.kind == "worker-kill":
            return f"SIGKILL live worker {self.victim} and its nanny, start a replacement"
        return "cut the client's connection (TcpProxy reset), scheduler stays up"


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """One unit of work the soak's user submits; ``expected`` has one value per future."""

    id: int
    wave: int
    shape: str
    inputs: tuple[int, ...]
    salt: int
    delay: float
    expected: tuple[Any, ...]
    #: The job whose futures (or persisted array) this one reads.
    source: int | None = None
    #: Read by a later job: the user holds its futures to the end and reads them again.
    held: bool = False

    @property
    def size(self) -> int:
        return len(self.expected)


@dataclasses.dataclass(frozen=True)
class Plan:
    config: SoakConfig
    faults: list[Fault]
    jobs: list[JobSpec]

    @property
    def tasks(self) -> int:
        return sum(job.size for job in self.jobs)

    @property
    def waves(self) -> int:
        return max(1, len(self.faults))

    def describe(self) -> str:
        """The schedule, printed before the run (the same seed prints the same text)."""
        shapes = collections.Counter(job.shape for job in self.jobs)
        lines = [
            f"seed {self.config.seed}: {self.tasks:,} futures in {len(self.jobs)} jobs "
            f"over {self.waves} waves, {len(self.faults)} faults, "
            f"{self.config.workers} workers",
            "jobs: " + ", ".join(f"{shape} {shapes[shape]}" for shape in SHAPES),
            f"{'#':>3}  {'wave':>7}  {'gap':>6}  fault (after its wave of futures)",
        ]
        per_wave = collections.Counter()
        for job in self.jobs:
            per_wave[job.wave] += job.size
        for fault in self.faults:
            lines.append(
                f"{fault.index + 1:>3}  {per_wave[fault.index]:>7}  "
                f"{fault.gap:>4.2f} s  {fault.describe(self.config.unresponsive_timeout)}"
            )
        return "\n".join(lines)


def plan(config: SoakConfig) -> Plan:
    """The seeded plan: ``random.Random(config.seed)`` draws faults, then the workload."""
    rng = random.Random(config.seed)
    faults = plan_faults(config, rng)
    return Plan(config, faults, plan_workload(config, rng, max(1, len(faults))))


def plan_faults(config: SoakConfig, rng: random.Random) -> list[Fault]:
    """``config.faults`` faults; any five of them include every kind and both freezes."""
    if config.faults >= len(_VARIANTS):
        variants = list(_VARIANTS)
        variants += [rng.choice(_VARIANTS) for _ in range(config.faults - len(_VARIANTS))]
        rng.shuffle(variants)
    else:
        variants = rng.sample(_VARIANTS, config.faults)
    faults = []
    for index, variant in enumerate(variants):
        gap = round(rng.uniform(*config.gap), 2)
        duration = 0.0
        if variant == "freeze-short":
            duration = round(rng.uniform(*config.short_freeze), 2)
        elif variant == "freeze-long":
            duration = round(rng.uniform(*config.long_freeze), 2)
        kind = "freeze" if variant.startswith("freeze") else variant
        faults.append(Fault(index, kind, gap, duration, rng.randrange(config.workers)))
    return faults


def plan_workload(config: SoakConfig, rng: random.Random, waves: int) -> list[JobSpec]:
    """Jobs of mixed shape until there are ``config.tasks`` futures, spread over the waves."""
    jobs: list[JobSpec] = []
    held: set[int] = set()
    total = 0
    counter = iter(range(10**9))
    while total < config.tasks:
        wave = min(waves - 1, total * waves // config.tasks)
        scalar_sources = [j.id for j in jobs if j.shape not in ("array", "array-reduce")]
        arrays = [j.id for j in jobs if j.shape == "array"]
        shape = rng.choices(SHAPES, weights=(6, 30, 20, 15, 10, 12, 7))[0]
        if (shape == "join" and not scalar_sources) or (shape == "array-reduce" and not arrays):
            shape = "map"
        salt = rng.randrange(PRIME)
        source = None
        delay = 0.0
        if shape in ("submit", "map"):
            n = rng.randint(1, 5) if shape == "submit" else rng.randint(10, 80)
            inputs = tuple(next(counter) for _ in range(n))
            expected: tuple[Any, ...] = tuple(step(x, salt) for x in inputs)
        elif shape == "chain":
            links = rng.randint(4, 24)
            inputs = (next(counter), *(rng.randrange(PRIME) for _ in range(links)))
            delay = round(rng.uniform(0.005, 0.03), 3)
            expected = _chain(inputs, salt)
        elif shape == "tree":
            inputs = tuple(next(counter) for _ in range(rng.randint(4, 32)))
            leaves = [step(x, salt) for x in inputs]
            expected = (*leaves, *inner_nodes(leaves, combine))
        elif shape == "array":
            chunks, chunk = rng.randint(4, 16), rng.choice((250, 500, 1000))
            inputs = (next(counter) * 10_000, chunks, chunk)
            expected = _array_expected(*inputs)
        elif shape == "join":
            source = rng.choice(scalar_sources)
            inputs = ()
            expected = (weighted_total(list(jobs[source].expected)),)
        else:
            source = rng.choice(arrays)
            inputs = ()
            start, chunks, chunk = jobs[source].inputs
            values = np.arange(start, start + chunks * chunk, dtype="int64")
            expected = (int((values * 3 + 1).sum()),)
        if source is not None:
            held.add(source)
        jobs.append(JobSpec(len(jobs), wave, shape, inputs, salt, delay, expected, source))
        total += len(expected)
    return [dataclasses.replace(j, held=j.id in held) for j in jobs]


def _chain(inputs: tuple[int, ...], salt: int) -> tuple[int, ...]:
    """A chain's links: the first reads its input, each next one the link before it."""
    values = [step(inputs[0], salt)]
    for link_salt in inputs[1:]:
        values.append(step(values[-1], link_salt))
    return tuple(values)


def _array_expected(start: int, chunks: int, chunk: int) -> tuple[Any, ...]:
    blocks = [np.arange(start + i * chunk, start + (i + 1) * chunk, dtype="int64")
              for i in range(chunks)]  # fmt: skip
    return (*blocks, int(sum(int(b.sum()) for b in blocks)))


# -- outcomes ---------------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    """What became of one future (or one blocking call)."""

    CORRECT = "correct"
    WRONG = "wrong value"
    TYPED = "typed error"
    UNTYPED = "untyped error"
    HANG = "hang"


def same(value: Any, expected: Any) -> bool:
    """Whether a result equals its expected value (arrays element-wise, with dtype)."""
    if isinstance(expected, np.ndarray):
        return (
            isinstance(value, np.ndarray)
            and value.dtype == expected.dtype
            and np.array_equal(value, expected)
        )
    if isinstance(expected, int):  # dask reductions return NumPy integers
        return (
            isinstance(value, (int, np.integer))
            and not isinstance(value, bool)
            and (int(value) == expected)
        )
    return type(value) is type(expected) and bool(value == expected)


def classify_error(exc: BaseException) -> Outcome:
    """Typed if it is one of resilient_dask's errors, untyped otherwise."""
    from resilient_dask import ResilientDaskError

    return Outcome.TYPED if isinstance(exc, ResilientDaskError) else Outcome.UNTYPED


@dataclasses.dataclass
class Record:
    """Every read of one future: first, again at the end (held jobs), after guidance."""

    job: int
    first: Outcome | None = None
    final_read: Outcome | None = None
    after_guidance: Outcome | None = None

    def counted(self, held: bool) -> Outcome:
        """The first-outcome count: correct only if every read of it was correct."""
        first = self.first or Outcome.HANG
        if first is not Outcome.CORRECT or not held:
            return first
        return self.final_read or Outcome.HANG

    def counted_after_guidance(self, held: bool) -> Outcome:
        """As :meth:`counted`, but a typed error counts the outcome after following it."""
        counted = self.counted(held)
        if counted is not Outcome.TYPED:
            return counted
        return self.after_guidance or Outcome.HANG


@dataclasses.dataclass
class ProbeResult:
    """A blocking ``result()`` made while the scheduler was frozen."""

    fault: int
    duration: float
    #: "returned", an error's type name, or "hang".
    first: str
    final: Outcome

    def expected_first(self, unresponsive_timeout: float) -> str:
        return "returned" if self.duration < unresponsive_timeout else "SchedulerUnresponsive"


@dataclasses.dataclass
class SoakReport:
    """Counts of one soak run, and whether it met the target."""

    plan: Plan
    first: collections.Counter[Outcome]
    after_guidance: collections.Counter[Outcome]
    errors: collections.Counter[str]
    calls: collections.Counter[str]
    probes: list[ProbeResult]
    transitions: collections.Counter[str]
    seconds: float
    examples: list[str] = dataclasses.field(default_factory=list)

    @property
    def tasks(self) -> int:
        return sum(self.first.values())

    def problems(self) -> list[str]:
        """Why the run missed the target (empty when it met it)."""
        out = []
        for outcome in Outcome:
            if outcome is not Outcome.CORRECT and self.first[outcome]:
                out.append(f"{self.first[outcome]} futures: {outcome}")
        for call, n in self.calls.items():
            if call.startswith("untyped") or call == "hang":
                out.append(f"{n} blocking calls: {call}")
        timeout = self.plan.config.unresponsive_timeout
        for probe in self.probes:
            want = probe.expected_first(timeout)
            if probe.first != want or probe.final is not Outcome.CORRECT:
                out.append(
                    f"freeze probe of fault {probe.fault + 1} ({probe.duration:.1f} s): "
                    f"{probe.first}, then {probe.final} (expected {want}, then correct)"
                )
        return out

    @property
    def passed(self) -> bool:
        return not self.problems()

    def table(self) -> str:
        lines = [
            f"{'outcome':<15}{'first':>9}{'after guidance':>16}",
            *(f"{o!s:<15}{self.first[o]:>9,}{self.after_guidance[o]:>16,}" for o in Outcome),
            f"{'total':<15}{self.tasks:>9,}{sum(self.after_guidance.values()):>16,}",
        ]
        if self.errors:
            lines.append("errors: " + ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())))
        lines.append("blocking calls: " + _counts(self.calls))
        probes = [f"{p.duration:.1f} s -> {p.first}, {p.final}" for p in self.probes]
        lines.append("freeze probes: " + (", ".join(probes) or "none"))
        lines.append("connection transitions: " + _counts(self.transitions))
        lines.append(f"wall time: {self.seconds:.1f} s")
        lines.extend(f"example: {text}" for text in self.examples)
        problems = self.problems()
        lines.append("RESULT: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        config = dataclasses.asdict(self.plan.config)
        return {
            "config": config,
            "faults": [dataclasses.asdict(f) for f in self.plan.faults],
            "futures": self.tasks,
            "first": {str(o): self.first[o] for o in Outcome},
            "after_guidance": {str(o): self.after_guidance[o] for o in Outcome},
            "errors": dict(self.errors),
            "calls": dict(self.calls),
            "probes": [{**dataclasses.asdict(p), "final": str(p.final)} for p in self.probes],
            "transitions": dict(self.transitions),
            "seconds": round(self.seconds, 1),
            "examples": self.examples,
            "problems": self.problems(),
            "passed": self.passed,
        }


def _counts(counter: collections.Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"
