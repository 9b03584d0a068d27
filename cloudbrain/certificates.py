"""A small private CA and a server certificate, for a family's server on a LAN.

`cloudbrain tls init` calls :func:`make_server_files`: the CA signs one certificate naming the
server's LAN names and addresses; an agent on another machine trusts the CA file (or pins the
server certificate's fingerprint). Keys are EC P-256 and stay in the data folder, 0600.
A second run keeps the CA (so agents that trust it need nothing new) and makes a new server
certificate, which is how names are added later.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudbrain.errors import CloudBrainError
from cloudbrain.files import write_atomically
from cloudbrain.tls import CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE, fingerprint, tls_folder

CA_DAYS = 3650
SERVER_DAYS = 825  # what browsers accept for a server certificate


@dataclass(frozen=True)
class ServerFiles:
    ca: Path
    cert: Path
    key: Path
    fingerprint: str  # of the server certificate
    names: tuple[str, ...]
    new_ca: bool


LOCAL_NAMES = ["localhost", "127.0.0.1", "::1"]


def certificate_names_for(given: list[str]) -> list[str]:
    """The names a server certificate carries: those given (default: this machine's host
    name, NAME.local as mDNS resolves it, and the addresses the name resolves to), and always
    this machine's own, which the commands run on the server itself connect to."""
    if not given:
        host = socket.gethostname()
        given = [host, f"{host}.local"]
        try:
            found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            found = []
        given += [str(entry[4][0]) for entry in found]
    return list(dict.fromkeys([*given, *LOCAL_NAMES]))


def make_server_files(
    home: Path, names: list[str], *, now: dt.datetime | None = None
) -> ServerFiles:
    """Write (or keep) the CA under ``home/tls`` and write a server certificate for ``names``."""
    if not names:
        raise CloudBrainError("a certificate needs at least one name", hint="pass --name HOST")
    now = now or dt.datetime.now(dt.UTC)
    folder = tls_folder(home)
    ca_path, ca_key_path = folder / CA_FILE, folder / CA_KEY_FILE
    new_ca = not (ca_path.exists() and ca_key_path.exists())
    if new_ca:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, now)
        write_atomically(ca_key_path, _key_pem(ca_key))
        write_atomically(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM).decode())
    else:
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise CloudBrainError(
                f"{ca_key_path} is not an EC key", hint="move the tls folder away"
            )
        ca_key = loaded
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_certificate(key, ca_cert, ca_key, names, now)
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    write_atomically(key_path, _key_pem(key))
    # The chain: a client that trusts the CA checks the server certificate against it.
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM).decode())
    return ServerFiles(
        ca_path,
        cert_path,
        key_path,
        fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        tuple(names),
        new_ca,
    )


def certificate_fingerprint(path: Path) -> str:
    """The fingerprint of the (first) certificate in a PEM file."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


def certificate_names(path: Path) -> list[str]:
    """The host names and addresses a certificate (the first in a PEM file) is valid for."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in names.get_values_for_type(x509.DNSName)] + [
        str(a) for a in names.get_values_for_type(x509.IPAddress)
    ]


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"CloudBrain CA ({socket.gethostname()[:40]})")]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: list[str],
    now: dt.datetime,
) -> x509.Certificate:
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            alternatives.append(x509.DNSName(_dns_name(name)))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _dns_name(name: str) -> str:
    """A host name as a certificate may carry it, or a clear error."""
    name = name.strip().lower().removesuffix(".")
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or not all(
            label
            and len(label) <= 63
            and all(c.isalnum() or c == "-" for c in label)
            and label.isascii()
            for label in labels
        )
    ):
        raise CloudBrainError(
            f"{name[:100]!r} is neither a host name nor an IP address",
            hint="pass names like laptop.local or addresses like 192.168.1.10",
        )
    return name
