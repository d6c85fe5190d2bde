"""Options of ResilientClient: defaults in dask.config, keyword arguments win.

The shipped defaults (``resilient-dask.yaml``) are registered with
``dask.config.update_defaults`` at import, the way dask and distributed register
theirs, so ``DASK_RESILIENT_DASK__...`` environment variables and
``dask.config.set`` override them. Every value is validated once, here; an invalid
one raises ``ValueError`` naming the option, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Mapping
from typing import Any, Literal

import dask.config
import yaml
from dask.utils import parse_timedelta

NAMESPACE = "resilient-dask"
_DEFAULTS_FILE = pathlib.Path(__file__).with_name("resilient-dask.yaml")

ScatterPolicy = Literal["raise", "keep"]
SCATTER_POLICIES: tuple[ScatterPolicy, ...] = ("raise", "keep")


def _load_defaults() -> dict[str, Any]:
    with _DEFAULTS_FILE.open() as f:
        loaded: dict[str, Any] = yaml.safe_load(f)
    return loaded


#: The shipped defaults, registered with dask.config at import. Kept here too: code
#: that resets dask.config to a snapshot taken before this import (for example
#: ``distributed.utils_test.reset_config()``, run by every ``gen_cluster`` test) or
#: that replaces the config wholesale removes them, and an option missing from
#: dask.config falls back to its shipped default.
SHIPPED: dict[str, Any] = _load_defaults()[NAMESPACE]
dask.config.update_defaults({NAMESPACE: SHIPPED})


@dataclasses.dataclass(frozen=True)
class LineageLimit:
    """Bound on the lineage store: at most ``count`` recipes.

    ``bytes`` exists so that a size given in the config is refused by name: recipes
    keep the arguments of submit/map alive, and their size is not measured.
    """

    count: int | None = None
    bytes: None = None

    def __post_init__(self) -> None:
        if self.bytes is not None:
            raise _size_refused(self.bytes)


@dataclasses.dataclass(frozen=True)
class Options:
    """Validated options of one ResilientClient (durations in seconds)."""

    resubmit: bool | Literal["manual"]
    resubmit_timeout: float
    reconnect_timeout: float
    probe_interval: float
    probe_timeout: float
    unresponsive_timeout: float
    scatter_policy: ScatterPolicy
    lineage_limit: LineageLimit
    record_stories: bool

    @classmethod
    def resolve(cls, **overrides: Any) -> Options:
        """Merge dask.config with keyword arguments (``None`` means "use the config")."""
        raw: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            value = overrides.get(field.name)
            if value is None:
                name = field.name.replace("_", "-")
                value = dask.config.get(f"{NAMESPACE}.{name}", default=None)
                if value is None:
                    value = SHIPPED[name]
            raw[field.name] = value
        return cls(
            resubmit=_resubmit(raw["resubmit"]),
            resubmit_timeout=_duration("resubmit_timeout", raw["resubmit_timeout"]),
            reconnect_timeout=_duration("reconnect_timeout", raw["reconnect_timeout"]),
            probe_interval=_duration("probe_interval", raw["probe_interval"]),
            probe_timeout=_duration("probe_timeout", raw["probe_timeout"]),
            unresponsive_timeout=_duration("unresponsive_timeout", raw["unresponsive_timeout"]),
            scatter_policy=_choice("scatter_policy", raw["scatter_policy"], SCATTER_POLICIES),
            lineage_limit=_lineage_limit(raw["lineage_limit"]),
            record_stories=_boolean("record_stories", raw["record_stories"]),
        )


def _invalid(option: str, value: Any, allowed: str) -> ValueError:
    key = f"{NAMESPACE}.{option.replace('_', '-')}"
    return ValueError(
        f"Invalid value for resilient_dask option {option!r}: {value!r}. "
        f"Allowed: {allowed}. Set it as ResilientClient({option}=...) or in dask.config "
        f"as {key!r}."
    )


def _boolean(option: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise _invalid(option, value, "True or False")


def _resubmit(value: Any) -> bool | Literal["manual"]:
    if value == "manual":
        return "manual"
    try:
        return _boolean("resubmit", value)
    except ValueError:
        raise _invalid("resubmit", value, "True, False or 'manual'") from None


def _duration(option: str, value: Any) -> float:
    allowed = "a positive duration: seconds as a number (0.5) or a string ('2s', '1 minute')"
    if isinstance(value, bool):
        raise _invalid(option, value, allowed)
    if not isinstance(value, (int, float, str)):
        raise _invalid(option, value, allowed)
    try:
        seconds = parse_timedelta(value, default="s")
    except (ValueError, TypeError, KeyError, IndexError):
        raise _invalid(option, value, allowed) from None
    if seconds is None or not seconds > 0:
        raise _invalid(option, value, allowed)
    return float(seconds)


def _choice(option: str, value: Any, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise _invalid(option, value, " or ".join(repr(a) for a in allowed))
    return value


def _positive_int(option: str, value: Any, allowed: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _invalid(option, value, allowed)
    return value


def _size_refused(size: Any) -> ValueError:
    return ValueError(
        f"Invalid value for resilient_dask option 'lineage_limit': a size ({size!r}) is not "
        "supported. Recipes keep the arguments of submit/map alive in client memory, and "
        "the client does not measure their size, so it cannot keep such a bound. Give a "
        "count of recipes instead, e.g. ResilientClient(lineage_limit=100_000) or "
        "'resilient-dask.lineage-limit.count' in dask.config (with 'bytes' left null)."
    )


def _lineage_limit(value: Any) -> LineageLimit:
    allowed = "a positive count (100000), {'count': ...} or a LineageLimit"
    if isinstance(value, LineageLimit):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"count", "bytes"}
        if unknown:
            raise _invalid("lineage_limit", value, allowed)
        if value.get("bytes") is not None:
            raise _size_refused(value["bytes"])
        return LineageLimit(count=_positive_int("lineage_limit", value.get("count"), allowed))
    if isinstance(value, str):
        raise _size_refused(value)
    return LineageLimit(count=_positive_int("lineage_limit", value, allowed))


def positive_duration(name: str, value: str | float) -> float:
    """A method argument given as a duration (``"30s"``, ``0.5``), in seconds, or a
    ValueError naming the argument."""
    try:
        seconds = parse_timedelta(value, default="s")
    except (ValueError, TypeError, KeyError, IndexError):
        seconds = None
    if seconds is None or not seconds > 0:
        raise ValueError(
            f"{name} must be a positive duration (seconds, or a string such as '30s'), "
            f"got {value!r}"
        )
    return float(seconds)
