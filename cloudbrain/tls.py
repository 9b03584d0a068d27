"""TLS for the server's listeners and for its clients, on the standard library's ``ssl``.

The server has one certificate for all three listeners (WebSocket, HTTP, SMTP). A client
trusts a server in one of two ways: a CA file (the private CA that ``cloudbrain tls init``
made, or any other) checked the usual way, names included; or a pinned SHA-256 fingerprint
of the server's certificate, for a person who copied one line rather than a file.

Off this machine nothing goes in clear text: :func:`plaintext_refusal` is the rule the server
applies before it listens.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cloudbrain.errors import CloudBrainError

# Where `cloudbrain tls init` writes, under the data folder.
TLS_FOLDER = "tls"
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH
NAME_MISMATCH = frozenset({62, 64})
_PIN = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


def tls_folder(home: Path) -> Path:
    return home / TLS_FOLDER


def server_context(cert: str, key: str) -> ssl.SSLContext | None:
    """The server side of TLS for a PEM certificate (chain) and its key; None without either."""
    if not cert and not key:
        return None
    if not (cert and key):
        raise CloudBrainError(
            "TLS needs both a certificate and its key",
            hint="pass --tls-cert and --tls-key (CLOUDBRAIN_TLS_CERT, CLOUDBRAIN_TLS_KEY), "
            "or neither",
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise CloudBrainError(
            f"cannot load the certificate {cert} with key {key}: {exc}",
            hint="check --tls-cert and --tls-key (PEM files); `cloudbrain tls init` makes a pair",
        ) from None
    return context


@dataclass(frozen=True)
class Trust:
    """How a client decides that it reached the right server: a CA (a file, or its PEM text as
    saved with a login), a pinned fingerprint, or (all empty) the system's CAs."""

    ca_file: str = ""
    ca_data: str = ""
    pin: str = ""

    def __post_init__(self) -> None:
        if self.pin:
            object.__setattr__(self, "pin", normal_pin(self.pin))

    def context(self) -> ssl.SSLContext:
        """The client side of TLS. A pinned certificate is checked after the handshake
        (:func:`check_pin`), before anything secret is sent, so the CA check is off for it."""
        context = ssl.create_default_context(
            cafile=self.ca_file or None, cadata=self.ca_data or None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.pin:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def client_context(url: str, trust: Trust) -> ssl.SSLContext | None:
    """What a client connecting to ``url`` passes as ``ssl``: None for ws:// (whose trust
    settings would then be meaningless, so they are refused)."""
    if url.startswith("wss://"):
        try:
            return trust.context()
        except (OSError, ssl.SSLError) as exc:
            raise CloudBrainError(
                f"cannot read the CA {trust.ca_file or '(saved with the login)'}: {exc}",
                hint="pass the ca.pem that `cloudbrain tls init` printed (--ca or CLOUDBRAIN_CA)",
            ) from None
    if trust.ca_file or trust.ca_data or trust.pin:
        raise CloudBrainError(
            f"{url} is not encrypted, so a CA file or a pinned certificate means nothing there",
            hint="use the server's wss:// address",
        )
    return None


def fingerprint(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint, as ``sha256:`` and lower-case hex."""
    return "sha256:" + hashlib.sha256(der).hexdigest()


def normal_pin(text: str) -> str:
    """A fingerprint as people paste it (with or without ``sha256:``, colons, upper case), in
    the one spelling :func:`fingerprint` gives; a clear error for anything else."""
    compact = text.strip().lower().replace(":", "").replace("sha256", "sha256:", 1)
    found = _PIN.match(compact)
    if found is None:
        raise CloudBrainError(
            f"{text[:100]!r} is not a SHA-256 certificate fingerprint",
            hint="copy the fingerprint `cloudbrain tls show` prints on the server",
        )
    return "sha256:" + found.group(1)


def check_pin(ssl_object: ssl.SSLObject | ssl.SSLSocket | None, pin: str) -> None:
    """Raise :class:`CertificateRefused` unless the peer's certificate has fingerprint ``pin``."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if der is None:
        raise CertificateRefused("the server showed no certificate")
    found = fingerprint(der)
    if found != pin:
        raise CertificateRefused(f"the server's certificate is {found}, not the pinned {pin}")


class CertificateRefused(CloudBrainError):
    """The server's certificate is not the one this client trusts."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(
            message,
            hint=hint
            or "if the server made a new CA, copy its ca.pem (or fingerprint) again with "
            "`cloudbrain login URL --ca FILE` or `--pin`; otherwise something is in between",
        )


def refusal_of(url: str, error: ssl.SSLCertVerificationError) -> CertificateRefused:
    """What a failed certificate check means, and what to do about it."""
    host = urlsplit(url).hostname or url
    if error.verify_code in NAME_MISMATCH:
        return CertificateRefused(
            f"the certificate of {url} does not name {host}",
            hint=f"on the server, `cloudbrain tls init --name {host}` adds the name (the CA "
            "stays the same); or connect by a name the certificate has",
        )
    return CertificateRefused(f"the certificate of {url} is not trusted ({error.verify_message})")


def is_local(host: str) -> bool:
    """Whether a listening address stays on this machine (a wildcard does not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plaintext_refusal(listeners: dict[str, str], tls: bool, allowed: bool) -> str | None:
    """Why the server must not start, or None: a listener (name → address) that other machines
    can reach, without TLS, unless the person said that clear text is what they want."""
    if tls or allowed:
        return None
    open_ones = [
        f"{name} on {host or '*'}" for name, host in listeners.items() if not is_local(host)
    ]
    if not open_ones:
        return None
    return (
        f"{', '.join(open_ones)} would take tokens in clear text from other machines; "
        "make a certificate with `cloudbrain tls init` (the server then uses it), or pass "
        "--allow-plaintext if a TLS proxy in front encrypts the traffic"
    )
