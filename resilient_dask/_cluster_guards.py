"""Cluster-side guards of ResilientClient (worker watchdog, pins, retries, forensics).

A mixin: ResilientClient inherits it before ``distributed.Client``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ClusterGuards:
    """Placeholder until the guards land: hooks ResilientClient calls."""

    def _rd_decorate_error(self, error: BaseException, keys: Sequence[Any] | None) -> None:
        """Attach what is known about a failure to the error being raised (no-op here)."""
