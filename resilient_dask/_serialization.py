"""Clear errors for arguments that cannot be sent to the cluster."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloudpickle import dumps


def _pickling_failure(exc: BaseException) -> BaseException | None:
    """The pickling error at the root of a failed graph serialisation, if that is what it is."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        if "pickle" in text.lower() or "serialize" in text.lower():
            root = seen
            while root.__cause__ is not None:
                root = root.__cause__
            return root
        seen = seen.__cause__ or seen.__context__
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def unpicklable_argument_error(
    exc: BaseException, what: str, candidates: Iterable[tuple[str, Any]]
) -> TypeError | None:
    """A TypeError naming which of ``candidates`` cannot be pickled, and the fix.

    Returns None when ``exc`` is not a pickling failure (it is then re-raised as is).
    """
    root = _pickling_failure(exc)
    if root is None:
        return None
    culprit = None
    for name, value in candidates:
        try:
            dumps(value)
        except Exception:
            culprit = (name, value)
            break
    where = f"{culprit[0]} ({_short(culprit[1])})" if culprit else "an argument"
    return TypeError(
        # "serialize": the word of distributed's own message, which users and tests match.
        f"Cannot serialize {what} to send it to the cluster: {where} cannot be pickled "
        f"({root}). "
        "Nothing was submitted. To fix it, create that object inside the task (for "
        "example open files, locks and connections there), pass something the workers "
        "can rebuild it from (a path, a URL, parameters), or make it picklable."
    )
