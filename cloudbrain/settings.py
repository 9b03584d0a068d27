"""Settings: ``CLOUDBRAIN_*`` environment variables over defaults that work on a fresh machine.

CLI flags override the environment by passing keyword arguments to :meth:`Settings.load`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cloudbrain.tls import CERT_FILE, KEY_FILE, tls_folder

DEFAULT_PORT = 8766


def default_home() -> Path:
    return Path(os.environ.get("CLOUDBRAIN_HOME", "~/.cloudbrain")).expanduser()


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=default_home)
    # Empty means the embedded default: a SQLite file under ``home``.
    database_url: str = ""
    # Where the listeners bind: ``host`` for all three, unless ws_host, http_host or smtp_host
    # names another address for one of them.
    host: str = "127.0.0.1"
    ws_host: str = ""
    http_host: str = ""
    smtp_host: str = ""
    port: int = DEFAULT_PORT
    # TLS for all three listeners (wss://, https://, SMTP STARTTLS): a PEM certificate (chain)
    # and its key. Empty: the pair `cloudbrain tls init` wrote under home/tls, if there is one.
    tls_cert: str = ""
    tls_key: str = ""
    # A listener that other machines can reach without TLS is refused unless this is on (for
    # a TLS proxy in front, or a network the person trusts).
    allow_plaintext: bool = False
    node: str = field(default_factory=socket.gethostname)
    max_frame_bytes: int = 1024 * 1024
    # Per-connection token bucket: sustained frames per second and the burst above it.
    rate_per_second: float = 1000.0
    rate_burst: int = 2000
    hello_timeout: float = 5.0
    # How often the server looks for revoked agents and expired messages, in seconds.
    revocation_poll: float = 1.0
    expiry_sweep: float = 5.0
    # What may wait to be written to one connection before the server gives up on a reader
    # that is too slow (it reconnects and gets the rest replayed from the database): frames,
    # and bytes of memory. Frames alone would let 10,000 frames of 1 MiB pile up.
    outbox_limit: int = 10_000
    outbox_bytes: int = 16 * 1024 * 1024
    # Bytes waiting for all the connections of this process together. Past it, the connection
    # holding the most is closed the same way, so one flood cannot take the node's memory.
    node_outbox_bytes: int = 256 * 1024 * 1024
    # How memories are embedded for recall by meaning: onnx:minilm (the model shipped with the
    # project), onnx:PATH, hashing, hashing:DIMS, ollama:MODEL, ollama:MODEL@URL or st:MODEL
    # (see cloudbrain.memory.embedding.make_embedder). The server and every agent's own store
    # use it. When it cannot embed at start, they fall back to hashing and say why.
    embedder: str = "onnx:minilm"
    # Who writes an ask's summary: "" (extractive, no model) or ollama:MODEL[@URL].
    summarizer: str = ""
    # Asks one session may have open at once; one more is refused with ``busy``.
    max_asks_per_session: int = 8
    # Mail: the family's domain (NAME@DOMAIN reaches the AI called NAME), the SMTP gateway
    # (on ``host``; port 0 picks a free one), the largest mail it takes, and whether mail from
    # this machine needs no AUTH (it then comes from the agent its MAIL FROM names).
    mail_domain: str = "cloudbrain.local"
    smtp: bool = True
    smtp_port: int = 8025
    smtp_max_bytes: int = 1024 * 1024
    smtp_trust_loopback: bool = True
    # With TLS, the gateway offers STARTTLS, or with smtp_implicit_tls speaks TLS from the
    # first byte (as on port 465). AUTH is taken only over TLS or on loopback.
    smtp_implicit_tls: bool = False
    # Failed AUTH from one address: the answer waits smtp_auth_delay seconds, doubled with each
    # failure; after smtp_auth_failures the connection is closed and the address locked out.
    smtp_auth_failures: int = 5
    smtp_auth_delay: float = 1.0
    # Keep a Maildir copy of what waits for an offline agent, under home/spool/NAME.
    spool: bool = True
    # Familio's web view and REST API (on ``host``; port 0 picks a free one). Who may read
    # without a token: "loopback" (this machine), "anyone", or "nobody". Writes always need one.
    http: bool = True
    http_port: int = 8767
    http_reads: str = "loopback"
    # More names (commas or spaces) the Host header of a loopback read may give besides
    # localhost, loopback addresses and ``host``: the name a proxy on this machine forwards.
    http_hosts: str = ""
    # Failed logins to the web view from one address: the answer waits http_login_delay
    # seconds, doubled with each failure; after http_login_failures the address is locked out.
    http_login_failures: int = 5
    http_login_delay: float = 1.0
    # Cluster mode: the Redis that several server nodes on one database share ("": one node).
    redis_url: str = ""
    # Take clients of the original CloudBrain protocol on the same port (from this machine only:
    # they cannot prove who they are).
    legacy_protocol: bool = False
    # New identities that openings of the original protocol may make in an hour (counted in the
    # database): each new name would otherwise add one more voice to reputation.
    legacy_new_per_hour: int = 10
    # How often reputation is worked out again (when anything it depends on changed), seconds.
    reputation_every: float = 10.0
    log_level: str = "INFO"
    # How log lines look: "text" for people, or "json" (one object per line) for collectors.
    log_format: str = "text"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Defaults, then ``CLOUDBRAIN_<FIELD>`` variables, then non-None ``overrides``."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"CLOUDBRAIN_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def db_url(self) -> str:
        """The database URL in force: the configured one, or SQLite under ``home``."""
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'cloudbrain.db'}"

    @property
    def tls_files(self) -> tuple[str, str]:
        """The certificate and key in force: the configured pair, or the one under home/tls."""
        if self.tls_cert or self.tls_key:
            return self.tls_cert, self.tls_key
        folder = tls_folder(self.home)
        cert, key = folder / CERT_FILE, folder / KEY_FILE
        return (str(cert), str(key)) if cert.exists() and key.exists() else ("", "")

    @property
    def tls(self) -> bool:
        return any(self.tls_files)

    def listening_host(self, listener: str) -> str:
        """Where ``listener`` ("ws", "http" or "smtp") binds."""
        return str(getattr(self, f"{listener}_host")) or self.host

    def local_host(self, listener: str = "ws") -> str:
        """The address clients on this machine use to reach ``listener``."""
        host = self.listening_host(listener)
        if host in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def url(self) -> str:
        """The WebSocket URL clients on this machine use to reach this server."""
        return f"{'wss' if self.tls else 'ws'}://{self.local_host()}:{self.port}"


def _convert(name: str, type_name: Any, raw: str) -> Any:
    kind = str(type_name)
    try:
        if kind == "Path":
            return Path(raw).expanduser()
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool" and raw.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return raw.lower() in ("1", "true", "yes", "on")
        if kind == "bool":
            raise ValueError(raw)
    except ValueError:
        raise ValueError(f"CLOUDBRAIN_{name.upper()}={raw!r} is not a valid {kind}") from None
    return raw
