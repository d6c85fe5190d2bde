"""The configuration reference page, rendered from the shipped defaults and their schema.

``resilient-dask.yaml`` holds the defaults (what dask.config registers) and
``resilient-dask-schema.yaml`` next to it says what each option means, in the
JSON-schema form dask and distributed use for their own options. Rendering the page
from both keeps docs/configuration-reference.md in step with what the code reads: a
test compares the committed page with :func:`render_reference_page`.

Regenerate the page with ``python -m resilient_dask._config_docs`` (``--check`` only
compares, exiting 1 if the committed page is stale).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from resilient_dask._config import NAMESPACE

_PACKAGE = pathlib.Path(__file__).resolve().parent
DEFAULTS_FILE = _PACKAGE / "resilient-dask.yaml"
SCHEMA_FILE = _PACKAGE / "resilient-dask-schema.yaml"
PAGE = _PACKAGE.parent / "docs" / "configuration-reference.md"
REGENERATE = "python -m resilient_dask._config_docs"


@dataclasses.dataclass(frozen=True)
class Option:
    """One configuration key: where it lives, its default and what the schema says."""

    path: tuple[str, ...]  # below the namespace, e.g. ("lineage-limit", "count")
    default: Any
    schema: Mapping[str, Any]

    @property
    def key(self) -> str:
        """The dotted dask.config key, e.g. ``resilient-dask.probe-interval``."""
        return ".".join((NAMESPACE, *self.path))

    @property
    def name(self) -> str:
        """The key below the namespace, e.g. ``lineage-limit.count``."""
        return ".".join(self.path)

    @property
    def keyword(self) -> str | None:
        """The ResilientClient keyword for a top-level option; sub-keys have none."""
        return self.path[0].replace("-", "_") if len(self.path) == 1 else None

    @property
    def environment_variable(self) -> str:
        """The variable dask.config reads this key from (``__`` separates levels)."""
        return "DASK_" + "__".join(p.replace("-", "_").upper() for p in (NAMESPACE, *self.path))

    @property
    def description(self) -> str:
        return str(self.schema.get("description", "")).strip()

    @property
    def types(self) -> list[str]:
        kind = self.schema.get("type", [])
        return [kind] if isinstance(kind, str) else [str(k) for k in kind]


def load_defaults() -> dict[str, Any]:
    """The options under the namespace in the shipped defaults file."""
    with DEFAULTS_FILE.open(encoding="utf-8") as f:
        return dict(yaml.safe_load(f)[NAMESPACE])


def load_schema() -> dict[str, Any]:
    """The schema entries of the options under the namespace."""
    with SCHEMA_FILE.open(encoding="utf-8") as f:
        return dict(yaml.safe_load(f)["properties"][NAMESPACE]["properties"])


def iter_options(
    defaults: Mapping[str, Any], schema: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[Option]:
    """Every option of ``defaults`` in file order, parents before their sub-keys.

    Raises ValueError naming the key when an option has no schema entry, so that a
    new default cannot reach the docs undescribed.
    """
    for name, default in defaults.items():
        path = (*prefix, name)
        entry = schema.get(name)
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"{'.'.join((NAMESPACE, *path))} is in {DEFAULTS_FILE.name} but has no entry "
                f"in {SCHEMA_FILE.name}: add its type and description there"
            )
        yield Option(path, default, entry)
        if isinstance(default, Mapping):
            yield from iter_options(default, entry.get("properties", {}), path)


def schema_only_keys(schema: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """Keys described in the schema that the defaults file does not have."""
    missing: list[str] = []
    for name, entry in schema.items():
        if name not in defaults:
            missing.append(name)
        elif isinstance(entry, Mapping) and isinstance(defaults[name], Mapping):
            nested = schema_only_keys(entry.get("properties", {}), defaults[name])
            missing.extend(f"{name}.{sub}" for sub in nested)
    return missing


def _literal(value: Any) -> str:
    """A value as it is written in YAML (``false``, ``null``, ``60s``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _slug(heading: str) -> str:
    """The anchor mkdocs and GitHub both give a plain-text heading."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())


def _facts(option: Option) -> list[str]:
    facts = [f"- config key: `{option.key}`"]
    if option.keyword:
        facts.append(f"- keyword: `ResilientClient({option.keyword}=...)`")
    if not isinstance(option.default, Mapping):
        facts.append(f"- environment variable: `{option.environment_variable}`")
    facts.append(f"- type: {' or '.join(option.types)}")
    if "enum" in option.schema:
        allowed = ", ".join(f"`{_literal(v)}`" for v in option.schema["enum"])
        facts.append(f"- allowed: {allowed}")
    if not isinstance(option.default, Mapping):
        facts.append(f"- default: `{_literal(option.default)}`")
    return facts


def render_reference_page() -> str:
    """The whole docs/configuration-reference.md page."""
    defaults, schema = load_defaults(), load_schema()
    options = list(iter_options(defaults, schema))
    parts = [
        "# Configuration reference\n",
        f"<!-- Generated from resilient_dask/{DEFAULTS_FILE.name} and "
        f"resilient_dask/{SCHEMA_FILE.name} by `{REGENERATE}`. Do not edit by hand. -->\n",
        "Every option of `ResilientClient`, with its shipped default. Set an option as a "
        "keyword argument of `ResilientClient` (which wins), with `dask.config.set`, in a "
        "dask YAML configuration file or as an environment variable; "
        "[Configuration](configuration.md) explains how these combine and how values are "
        "checked.\n",
        "| option | keyword | default |\n| --- | --- | --- |",
        "\n".join(
            f"| [`{o.key}`](#{_slug(o.name)}) | "
            + (f"`{o.keyword}`" if o.keyword else "")
            + " | "
            + ("" if isinstance(o.default, Mapping) else f"`{_literal(o.default)}`")
            + " |"
            for o in options
        )
        + "\n",
    ]
    for option in options:
        level = "#" * (len(option.path) + 1)
        parts.extend([f"{level} {option.name}\n", option.description + "\n"])
        parts.append("\n".join(_facts(option)) + "\n")
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the configuration reference page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("output", nargs="?", type=pathlib.Path, default=PAGE)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    try:
        page = render_reference_page()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    output: pathlib.Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != page:
            print(f"{output} is stale: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    output.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
