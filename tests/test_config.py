"""Options of ResilientClient: shipped defaults, dask.config, environment, keywords, validation."""

from __future__ import annotations

import copy
import pathlib
import re
import time
from collections.abc import Iterator
from typing import Any

import dask.config
import pytest
import yaml
from dask.utils import parse_timedelta

import resilient_dask
from resilient_dask import ResilientClient
from resilient_dask._config import LineageLimit, Options

pytestmark = pytest.mark.timeout(20)

YAML_FILE = pathlib.Path(resilient_dask.__file__).with_name("resilient-dask.yaml")
DURATIONS = [
    "probe_interval",
    "probe_timeout",
    "unresponsive_timeout",
    "resubmit_timeout",
    "reconnect_timeout",
]
#: A TCP address nothing listens on.
NOWHERE = "tcp://127.0.0.1:1"


@pytest.fixture(autouse=True)
def isolated_config() -> Iterator[None]:
    """Restore dask's global config after each test, whatever the test did to it."""
    saved = copy.deepcopy(dask.config.config)
    try:
        yield
    finally:
        dask.config.config.clear()
        dask.config.config.update(saved)


def shipped_defaults() -> dict[str, Any]:
    with YAML_FILE.open() as f:
        return yaml.safe_load(f)["resilient-dask"]  # type: ignore[no-any-return]


def invalid(option: str, allowed: str) -> str:
    """A ``match=`` pattern: the error names the option and what is allowed."""
    return rf"option {re.escape(repr(option))}.*Allowed: {re.escape(allowed)}"


# -- defaults and precedence ----------------------------------------------------------


def test_shipped_yaml_has_the_documented_defaults() -> None:
    """The YAML file ships the defaults the docs state."""
    defaults = shipped_defaults()
    assert {key: value for key, value in defaults.items() if key != "lineage-limit"} == {
        "resubmit": False,
        "resubmit-timeout": "60s",
        "reconnect-timeout": "5 minutes",
        "probe-interval": "2s",
        "probe-timeout": "5s",
        "unresponsive-timeout": "60s",
        "scatter-policy": "raise",
        "record-stories": True,
    }


def test_resolve_without_arguments_gives_the_shipped_defaults() -> None:
    """``Options.resolve()`` is the YAML file's values, parsed."""
    defaults = shipped_defaults()
    assert Options.resolve() == Options(
        resubmit=defaults["resubmit"],
        resubmit_timeout=parse_timedelta(defaults["resubmit-timeout"]),
        reconnect_timeout=parse_timedelta(defaults["reconnect-timeout"]),
        probe_interval=parse_timedelta(defaults["probe-interval"]),
        probe_timeout=parse_timedelta(defaults["probe-timeout"]),
        unresponsive_timeout=parse_timedelta(defaults["unresponsive-timeout"]),
        scatter_policy=defaults["scatter-policy"],
        lineage_limit=LineageLimit(**defaults["lineage-limit"]),
        record_stories=defaults["record-stories"],
    )


def test_dask_config_overrides_the_default() -> None:
    """A value set with ``dask.config.set`` replaces the shipped default."""
    with dask.config.set({"resilient-dask.probe-interval": "1s"}):
        assert Options.resolve().probe_interval == 1.0


def test_keyword_argument_wins_over_dask_config() -> None:
    """A keyword argument beats a value set in dask.config."""
    with dask.config.set({"resilient-dask.probe-interval": "1s"}):
        assert Options.resolve(probe_interval="3s").probe_interval == 3.0


def test_environment_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """``DASK_RESILIENT_DASK__PROBE_TIMEOUT`` sets the option once dask reads the env."""
    monkeypatch.setenv("DASK_RESILIENT_DASK__PROBE_TIMEOUT", "7s")
    dask.config.refresh()
    assert Options.resolve().probe_timeout == 7.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0.5, 0.5), (3, 3.0), ("250ms", 0.25), ("2s", 2.0), ("1 minute", 60.0)],
    ids=repr,
)
def test_valid_duration_forms(value: object, seconds: float) -> None:
    """Durations are numbers of seconds or strings with a unit."""
    assert Options.resolve(probe_timeout=value).probe_timeout == seconds


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        (500, LineageLimit(count=500)),
        ({"count": 10}, LineageLimit(count=10)),
        ({"count": 10, "bytes": None}, LineageLimit(count=10)),
        (LineageLimit(count=3), LineageLimit(count=3)),
    ],
    ids=repr,
)
def test_valid_lineage_limit_forms(value: object, limit: LineageLimit) -> None:
    """``lineage_limit`` takes a count, a dict with a count (bytes null) or a LineageLimit."""
    assert Options.resolve(lineage_limit=value).lineage_limit == limit


# -- validation --------------------------------------------------------------------

DURATION_ALLOWED = "a positive duration"
BAD_DURATIONS: list[object] = [-1, 0, -0.5, "-1s", "0s", "garbage", "", True, False, ["2s"]]


@pytest.mark.parametrize("option", DURATIONS)
@pytest.mark.parametrize("value", BAD_DURATIONS, ids=repr)
def test_invalid_duration_raises_value_error_naming_the_option(option: str, value: object) -> None:
    """Zero, negative, unparsable, boolean or mistyped durations raise a ValueError naming it."""
    with pytest.raises(ValueError, match=invalid(option, DURATION_ALLOWED)):
        Options.resolve(**{option: value})


@pytest.mark.parametrize("value", ["drop", "RAISE", "", 1], ids=repr)
def test_unknown_scatter_policy_raises_value_error(value: object) -> None:
    """A scatter_policy other than 'raise' or 'keep' is rejected, listing both."""
    with pytest.raises(ValueError, match=invalid("scatter_policy", "'raise' or 'keep'")):
        Options.resolve(scatter_policy=value)


@pytest.mark.parametrize("value", ["maybe", 2], ids=repr)
def test_invalid_resubmit_raises_value_error(value: object) -> None:
    """``resubmit`` must be True, False or 'manual'."""
    with pytest.raises(ValueError, match=invalid("resubmit", "True, False or 'manual'")):
        Options.resolve(resubmit=value)


def test_resubmit_manual_is_accepted() -> None:
    """``resubmit='manual'`` records lineage without replaying automatically."""
    assert Options.resolve(resubmit="manual").resubmit == "manual"


@pytest.mark.parametrize(
    "value",
    [
        -1,
        0,
        1.5,
        True,
        {"count": -5},
        {"count": 1, "size": "1 GiB"},
    ],
    ids=repr,
)
def test_invalid_lineage_limit_raises_value_error(value: object) -> None:
    """Bad counts and unknown dict keys are rejected, naming the allowed forms."""
    with pytest.raises(ValueError, match=invalid("lineage_limit", "a positive count")):
        Options.resolve(lineage_limit=value)


@pytest.mark.parametrize(
    "value", ["2 GiB", "junk", {"count": 10, "bytes": "1 MiB"}, {"bytes": 4096}], ids=repr
)
def test_a_size_bound_on_the_lineage_is_refused_naming_it_and_the_fix(value: object) -> None:
    """A size is refused, not accepted and ignored: the error names the size, says the
    recipes keep submit arguments alive unmeasured, and says to give a count."""
    with pytest.raises(ValueError) as caught:
        Options.resolve(lineage_limit=value)
    text = str(caught.value)
    size = value["bytes"] if isinstance(value, dict) else value
    assert f"a size ({size!r}) is not supported" in text
    assert "keep the arguments of submit/map alive" in text
    assert "lineage_limit=100_000" in text


def test_a_size_bound_in_dask_config_is_refused() -> None:
    """``resilient-dask.lineage-limit.bytes`` set in dask.config is refused the same way."""
    with dask.config.set({"resilient-dask.lineage-limit.bytes": "2 GiB"}):
        with pytest.raises(ValueError, match=r"a size \('2 GiB'\) is not supported"):
            Options.resolve()
    with pytest.raises(ValueError, match="is not supported"):
        LineageLimit(count=1, bytes=4096)  # type: ignore[arg-type]


def test_invalid_value_from_dask_config_raises_value_error() -> None:
    """A bad value set in dask.config is rejected like a bad keyword argument."""
    with (
        dask.config.set({"resilient-dask.scatter-policy": "drop"}),
        pytest.raises(ValueError, match=invalid("scatter_policy", "'raise' or 'keep'")),
    ):
        Options.resolve()


@pytest.mark.timeout(10)
def test_client_rejects_invalid_option_before_connecting() -> None:
    """``ResilientClient`` validates its options before it tries to reach the scheduler."""
    started = time.monotonic()
    with pytest.raises(ValueError, match=invalid("probe_interval", DURATION_ALLOWED)):
        ResilientClient(NOWHERE, probe_interval="-1s")
    assert time.monotonic() - started < 1.0
