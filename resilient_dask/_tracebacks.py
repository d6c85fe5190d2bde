"""Tracebacks as short as distributed's: resilient_dask's own frames are hidden.

distributed keeps the tracebacks users read short (``dask.utils.shorten_traceback``
drops the frames of ``distributed/client.py`` and friends, keeping the first and
the last). A task's error raised through a ResilientClient passes through our
frames too (the hooks, the blocking calls); :func:`hide_own_frames` drops them
the same way, so ``future.result()`` shows the same frames with either client.
It does not rely on dask.config: code that resets the config (as distributed's
test utilities do) cannot bring our frames back.
"""

from __future__ import annotations

import re
import types

#: Files of resilient_dask a result passes through: the client, the private modules,
#: the compat layer. Public helpers a user calls directly are not hidden.
_OWN_FILES = re.compile(r"[\\/]resilient_dask[\\/](?:client\.py|_[^\\/]*\.py|_compat[\\/])")


def is_own_frame(tb: types.TracebackType) -> bool:
    return _OWN_FILES.search(tb.tb_frame.f_code.co_filename) is not None


def hide_own_frames(exc: BaseException) -> None:
    """Drop resilient_dask's frames from ``exc``'s traceback, in place.

    The last frame (where the error was raised) is always kept, as dask keeps it.
    Re-raise ``exc`` with a bare ``raise`` afterwards: that keeps the shortened
    traceback, where ``raise exc`` would add the current frame again.
    """
    kept: list[types.TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_next is None or not is_own_frame(tb):
            kept.append(tb)
        tb = tb.tb_next
    for frame, following in zip(kept, [*kept[1:], None], strict=True):
        frame.tb_next = following
    exc.__traceback__ = kept[0] if kept else None
