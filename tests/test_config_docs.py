"""docs/configuration-reference.md is rendered from the shipped defaults and their schema."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import dask.config
import pytest

from resilient_dask._config import SCATTER_POLICIES, Options
from resilient_dask._config_docs import (
    PAGE,
    REGENERATE,
    Option,
    iter_options,
    load_defaults,
    load_schema,
    main,
    render_reference_page,
    schema_only_keys,
)

pytestmark = pytest.mark.timeout(30)

ROOT = pathlib.Path(__file__).resolve().parents[1]
OPTIONS = list(iter_options(load_defaults(), load_schema()))
LEAVES = [o for o in OPTIONS if not isinstance(o.default, dict)]
by_key = pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)

#: JSON-schema type names and the Python values YAML gives for them.
SCHEMA_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "null": (type(None),),
    "object": (dict,),
}


def test_reference_page_is_up_to_date() -> None:
    """The committed page equals what the defaults and the schema render."""
    assert PAGE == ROOT / "docs" / "configuration-reference.md"
    assert PAGE.read_text(encoding="utf-8") == render_reference_page(), f"run: {REGENERATE}"


@by_key
def test_every_option_has_a_description_and_a_type(option: Option) -> None:
    """Each key of resilient-dask.yaml is described in the schema, with known types."""
    assert len(option.description) > 40
    assert option.types and set(option.types) <= set(SCHEMA_TYPES)


def test_schema_describes_no_option_that_has_no_default() -> None:
    """The schema has no entry for a key the defaults file lacks (a renamed option)."""
    assert schema_only_keys(load_schema(), load_defaults()) == []


@by_key
def test_default_has_a_type_the_schema_allows(option: Option) -> None:
    """Each shipped default is of one of its schema types (and in its enum, if any)."""
    allowed = tuple(t for name in option.types for t in SCHEMA_TYPES[name])
    assert isinstance(option.default, allowed)
    if "enum" in option.schema:
        assert option.default in option.schema["enum"]


def test_top_level_options_are_the_client_keywords() -> None:
    """The keywords named on the page are exactly the validated options of ResilientClient."""
    keywords = {o.keyword for o in OPTIONS if o.keyword}
    assert keywords == {field.name for field in dataclasses.fields(Options)}


@pytest.mark.parametrize("option", [o for o in OPTIONS if "enum" in o.schema], ids=lambda o: o.name)
def test_enum_values_are_exactly_what_validation_accepts(option: Option) -> None:
    """Every value the page lists as allowed is accepted, and a value outside is refused."""
    assert option.keyword is not None
    for value in option.schema["enum"]:
        resolved = getattr(Options.resolve(**{option.keyword: value}), option.keyword)
        assert resolved == value
    with pytest.raises(ValueError, match=option.keyword):
        Options.resolve(**{option.keyword: "not-an-allowed-value"})


def test_scatter_policy_enum_is_the_code_s_tuple() -> None:
    """The scatter-policy values documented are the ones the code defines."""
    (option,) = [o for o in OPTIONS if o.name == "scatter-policy"]
    assert tuple(option.schema["enum"]) == SCATTER_POLICIES


@pytest.mark.parametrize("option", LEAVES, ids=lambda o: o.name)
def test_environment_variable_sets_the_key(option: Option) -> None:
    """The environment variable the page names reaches this key through dask.config."""
    config = dask.config.collect_env({option.environment_variable: "123"})
    assert dask.config.get(option.key, config=config) == 123


def test_shipped_defaults_are_what_a_client_uses() -> None:
    """The defaults shown are the values dask.config holds when nothing overrides them."""
    for option in LEAVES:
        assert dask.config.get(option.key) == option.default


def test_undescribed_default_is_named_in_the_error() -> None:
    """A default without a schema entry stops the generator with the key's name."""
    defaults: dict[str, Any] = {**load_defaults(), "new-option": 1}
    with pytest.raises(ValueError, match=r"resilient-dask\.new-option .*no entry"):
        list(iter_options(defaults, load_schema()))


def test_check_mode_reports_a_stale_page(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--check`` exits 1 naming the regeneration command, 0 once the page is written."""
    page = tmp_path / "configuration-reference.md"
    page.write_text("# stale\n", encoding="utf-8")
    assert main([str(page), "--check"]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert main([str(page)]) == 0
    assert main([str(page), "--check"]) == 0
