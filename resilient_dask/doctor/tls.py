"""The TLS settings of both commands, checked before anything connects.

``--tls-ca-file``, ``--tls-cert`` and ``--tls-key`` mean what they mean for
``dask worker``: the CA that signed the scheduler's certificate, and this
client's certificate and its private key (PEM files). Options given replace the
matching ``distributed.comm.tls.*`` settings of the dask config; without any,
distributed reads the dask config as it always does. Every mistake that can be
seen without the scheduler (a missing or malformed file, a key without its
certificate, a ``tls://`` address without TLS settings, TLS options for a
``tcp://`` address) is a :class:`TlsError` naming the option and the fix, so
that it never surfaces as a failed handshake.
"""

from __future__ import annotations

import dataclasses
import ssl
from typing import TYPE_CHECKING

from resilient_dask.doctor.address import SchedulerAddress

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["ENCRYPTED_SCHEMES", "TlsError", "TlsOptions", "check_pem_file", "client_security"]

#: Schemes whose connections are encrypted, and so need TLS settings.
ENCRYPTED_SCHEMES = ("tls", "wss")

_OPTIONS = "--tls-ca-file, --tls-cert and --tls-key"
_CONFIG = (
    "distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
    "distributed.comm.tls.client.key"
)
_WHAT = {
    "--tls-ca-file": "the CA certificate that signed the scheduler's certificate",
    "--tls-cert": "this client's certificate",
    "--tls-key": "the private key of --tls-cert",
}


class TlsError(ValueError):
    """TLS settings that cannot work; the message names the option or file and the fix."""


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """The TLS options as given on the command line (None: not given)."""

    ca_file: str | None = None
    cert: str | None = None
    key: str | None = None

    @property
    def given(self) -> bool:
        return any((self.ca_file, self.cert, self.key))


def check_pem_file(option: str, path: str) -> str:
    """``path`` if it is a readable file, else :class:`TlsError` naming ``option`` and the fix."""
    what = f"the PEM file of {_WHAT.get(option, 'a TLS setting')}"
    try:
        with open(path, "rb") as file:
            file.read(1)
    except FileNotFoundError:
        raise TlsError(
            f"{path!r} does not exist: give the path of {what} "
            f"(the file `dask worker {option}` gets)"
        ) from None
    except IsADirectoryError:
        raise TlsError(f"{path!r} is a directory: give the path of {what}") from None
    except OSError as exc:
        raise TlsError(
            f"{path!r} cannot be read ({exc.strerror or exc}): check its permissions, "
            f"or give the path of {what}"
        ) from None
    return path


def client_security(options: TlsOptions, address: SchedulerAddress) -> Security | None:
    """The ``security=`` for a client of ``address``; None leaves it to the dask config.

    Raises :class:`TlsError` when the settings cannot make a TLS connection to
    ``address``, or when TLS options are given for an unencrypted address.
    """
    import dask.config
    from distributed.security import Security

    if bool(options.cert) != bool(options.key):
        one, other = ("--tls-cert", "--tls-key") if options.cert else ("--tls-key", "--tls-cert")
        raise TlsError(
            f"{one} was given without {other}: a client certificate needs its private "
            "key, so give both (the same file twice if the certificate file also holds "
            "the key)"
        )
    if not options.given:
        if address.scheme == "tls" and _context(Security(), "the dask config") is None:
            raise TlsError(
                f"{address} is a TLS address, but there are no TLS settings: pass {_OPTIONS} "
                "(the files the scheduler's workers get), or set "
                f"{_CONFIG} in the dask config"
            )
        return None
    if address.scheme not in ENCRYPTED_SCHEMES:
        scheme = "wss" if address.scheme == "ws" else "tls"
        secure = SchedulerAddress(scheme, address.host, address.port)
        raise TlsError(
            f"{_OPTIONS} are for a scheduler that uses TLS, but {address} is not encrypted. "
            "Such a scheduler (`dask scheduler --protocol tls`) has a tls:// address: give "
            f"{secure}, or drop the TLS options"
        )
    _load(options)
    given = {
        name: value
        for name, value in (
            ("tls_ca_file", options.ca_file),
            ("tls_client_cert", options.cert),
            ("tls_client_key", options.key),
        )
        if value
    }
    security = Security(require_encryption=True, **given)
    if _context(security, f"{_OPTIONS} with the dask config") is None:
        if not options.ca_file and not dask.config.get("distributed.comm.tls.ca-file", None):
            raise TlsError(
                "--tls-cert and --tls-key need the CA as well: pass --tls-ca-file (the CA "
                "certificate that signed the scheduler's certificate)"
            )
        raise TlsError(
            "--tls-ca-file alone is not enough: the scheduler asks every client for a "
            "certificate, so pass --tls-cert and --tls-key as well"
        )
    return security


def _load(options: TlsOptions) -> None:
    """Load each given file the way a TLS connection will, blaming the option that fails."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if options.ca_file:
        try:
            context.load_verify_locations(cafile=options.ca_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise TlsError(
                f"--tls-ca-file {options.ca_file!r} holds no CA certificate ({_reason(exc)}): "
                "give the PEM file of the CA that signed the scheduler's certificate"
            ) from None
    if options.cert and options.key:
        try:
            context.load_cert_chain(options.cert, options.key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise TlsError(
                f"--tls-cert {options.cert!r} and --tls-key {options.key!r} do not load as "
                f"a certificate and its private key ({_reason(exc)}): give PEM files, the "
                "key unencrypted and belonging to that certificate"
            ) from None


def _context(security: Security, source: str) -> ssl.SSLContext | None:
    """The client's TLS context that ``security`` makes (None: it has no TLS settings)."""
    try:
        context = security.get_connection_args("client")["ssl_context"]
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TlsError(
            f"the TLS settings from {source} do not load ({_reason(exc)}): check "
            f"{_CONFIG} in the dask config"
        ) from None
    return context if isinstance(context, ssl.SSLContext) else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.library or 'SSL'}: {exc.reason}"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
