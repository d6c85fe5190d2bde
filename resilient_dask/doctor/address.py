"""Checking a scheduler address before anything tries to connect to it.

distributed accepts ``tcp://host:port`` and friends, but a typo such as a missing
port or the dashboard's ``http://`` address makes it raise deep inside
``Client.__init__``. Checking here lets both commands say what is wrong and what
a scheduler address looks like, without a traceback and before any waiting.
The same holds for the address read from a scheduler file.
"""

from __future__ import annotations

import dataclasses
import json

__all__ = ["SCHEMES", "AddressError", "SchedulerAddress", "parse_address", "read_scheduler_file"]

#: Schemes a scheduler listens on over TCP (what ``dask scheduler --protocol`` offers).
SCHEMES = ("tcp", "tls", "ws", "wss")
_EXAMPLE = "tcp://scheduler-host:8786 (8786 is the default scheduler port)"


class AddressError(ValueError):
    """The address cannot be a scheduler address; the message says why and what to give."""


@dataclasses.dataclass(frozen=True)
class SchedulerAddress:
    """A syntactically valid scheduler address, split into its parts."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        """The address as distributed expects it (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_address(text: str) -> SchedulerAddress:
    """Split ``text`` (``[scheme://]host:port``) or raise :class:`AddressError` naming the fix.

    Without a scheme, ``tcp://`` is meant, as for ``distributed.Client``.
    """
    raw = text.strip()
    if not raw:
        raise AddressError(f"the scheduler address is empty; give one like {_EXAMPLE}")
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "tcp", raw
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        raise AddressError(
            f"{text!r} is a web address (the dashboard, usually port 8787), not the scheduler's: "
            f"give the scheduler's own address, like {_EXAMPLE}"
        )
    if scheme not in SCHEMES:
        raise AddressError(
            f"unknown scheme {scheme!r} in {text!r}; use one of "
            f"{', '.join(s + '://' for s in SCHEMES)}, e.g. {_EXAMPLE}"
        )
    host, port_text = _split_host_port(text, rest)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AddressError(
            f"the port {port_text!r} in {text!r} is not a port number (1-65535); "
            f"give one like {_EXAMPLE}"
        )
    return SchedulerAddress(scheme, host, int(port_text))


def _split_host_port(text: str, rest: str) -> tuple[str, str]:
    if rest.endswith("/"):
        rest = rest[:-1]
    if rest.startswith("["):  # [IPv6]:port
        host, bracket, after = rest[1:].partition("]")
        if not bracket or not after.startswith(":"):
            raise AddressError(
                f"{text!r} has no port after the IPv6 address; give one like tcp://[::1]:8786"
            )
        return host, after[1:]
    if rest.count(":") > 1:
        raise AddressError(
            f"{text!r} has more than one ':'; an IPv6 host needs brackets, "
            "like tcp://[::1]:8786"
        )
    host, colon, port_text = rest.partition(":")
    if not host:
        raise AddressError(f"{text!r} has no host name; give one like {_EXAMPLE}")
    if not colon:
        raise AddressError(f"{text!r} has no port; give one like {_EXAMPLE}")
    return host, port_text


def read_scheduler_file(path: str) -> SchedulerAddress:
    """The address in the JSON file ``dask scheduler --scheduler-file PATH`` writes.

    Raises :class:`AddressError` naming the file and what is wrong with it.
    """
    written = "the file `dask scheduler --scheduler-file PATH` writes"
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise AddressError(
            f"{path!r} does not exist: give the path of {written} (is the scheduler started, "
            "and is the file on a disk this machine sees?), or the scheduler's ADDRESS instead"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AddressError(
            f"{path!r} cannot be read ({reason}): give the path of {written}"
        ) from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AddressError(
            f"{path!r} is not JSON ({exc.msg}, line {exc.lineno}): give the path of {written}"
        ) from None
    address = content.get("address") if isinstance(content, dict) else None
    if not isinstance(address, str):
        raise AddressError(
            f"{path!r} has no scheduler address (no \"address\" string in it): give the path "
            f"of {written}, or the scheduler's ADDRESS instead"
        )
    try:
        return parse_address(address)
    except AddressError as error:
        raise AddressError(f"the address in {path!r} is wrong: {error}") from None
