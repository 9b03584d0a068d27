"""Who may use the web view and the REST API.

Reads are open to this machine by default (``CLOUDBRAIN_HTTP_READS=loopback``); ``anyone``
opens them to every address the server listens on, and ``nobody`` asks a token for them too.
Every write needs an agent's token, ``Authorization: Bearer cb_...``, and acts as that agent.

Reads granted because the peer is this machine also need a ``Host`` header that names this
server. A page of another site in a browser here can point its own DNS name at 127.0.0.1 (DNS
rebinding): its requests then come from loopback, but carry that site's name as their Host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.errors import CloudBrainError, ErrorCode, ProtocolError
from cloudbrain.identity import agent_of_token
from cloudbrain.peers import is_loopback

READ_POLICIES = ("loopback", "anyone", "nobody")
# Names that always mean this machine; loopback addresses (127.0.0.0/8, ::1) are taken too.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = ("0.0.0.0", "::", "")  # a listening address, not a name anyone asks for


def check_policy(policy: str) -> str:
    if policy not in READ_POLICIES:
        raise CloudBrainError(
            f"CLOUDBRAIN_HTTP_READS={policy!r} is not a read policy",
            hint="use loopback (the default), anyone or nobody",
        )
    return policy


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def host_name(header: str) -> str | None:
    """The name of a ``Host`` header without its port (``[::1]:8767`` is ``::1``), lower
    case and without a final dot; None when it is not a host name with an optional port."""
    header = header.strip()
    if header.startswith("["):
        name, bracket, port = header[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and port[1:].isdigit())):
            return None
    else:
        name, colon, port = header.partition(":")
        if colon and not port.isdigit():
            return None  # an IPv6 address without brackets, or a port that is no number
    name = name.lower().removesuffix(".")
    return name or None


def trusted_hosts(host: str, extra: str = "") -> frozenset[str]:
    """The names a request may give as its Host to be read as this machine: the local names,
    the address the server listens on (``CLOUDBRAIN_HOST``) and ``extra``, names separated by
    commas or spaces (``CLOUDBRAIN_HTTP_HOSTS``), each optionally with a port."""
    names = set(LOCAL_NAMES)
    for given in [host, *extra.replace(",", " ").split()]:
        given = given.strip()
        if given in WILDCARDS:
            continue
        # A bare IPv6 address has colons of its own; anything else may end in ":PORT".
        name = _normal(given.strip("[]")) if _address(given.strip("[]")) else host_name(given)
        if name is not None:
            names.add(name)
    return frozenset(names)


def names_this_server(header: str | None, trusted: Iterable[str]) -> bool:
    """Whether a ``Host`` header names this server. An address of the loopback network does,
    whatever the settings: a browser sends one only for a page it loaded from that address."""
    name = host_name(header) if header else None
    if name is None:
        return False
    address = _address(name)
    return _normal(name) in trusted or (address is not None and address.is_loopback)


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _normal(name: str) -> str:
    """One spelling per name: an address in its canonical form, a name in lower case."""
    address = _address(name)
    return str(address) if address is not None else name.lower().removesuffix(".")


class Access:
    def __init__(
        self, engine: AsyncEngine, policy: str, hosts: Iterable[str] = LOCAL_NAMES
    ) -> None:
        self.engine = engine
        self.policy = check_policy(policy)
        self.hosts = frozenset(hosts)

    async def agent(self, request: Request) -> str:
        """The agent a request acts as; ``auth_failed`` without a valid token."""
        token = bearer(request)
        if token is None:
            raise ProtocolError(
                ErrorCode.AUTH_FAILED,
                "this needs an agent's token: send 'Authorization: Bearer cb_...'",
            )
        record = await agent_of_token(self.engine, token)
        if record is None:
            raise ProtocolError(ErrorCode.AUTH_FAILED, "that token is not an active agent's")
        return record.name

    async def may_read(self, request: Request) -> None:
        """Nothing when reading is allowed; ``auth_failed`` otherwise, or ``forbidden`` for a
        tokenless read from this machine that names another site as its Host."""
        if self.policy == "anyone":
            return
        if self.policy == "loopback" and is_loopback(
            request.client.host if request.client else None
        ):
            host = request.headers.get("host")
            if names_this_server(host, self.hosts):
                return
            if bearer(request) is None:
                # A token proves itself wherever the request says it goes; without one, this
                # is what a rebinding page would send.
                raise ProtocolError(
                    ErrorCode.FORBIDDEN,
                    f"the Host header {(host or '')[:100]!r} does not name this server: open it "
                    "as http://127.0.0.1:PORT/ or http://localhost:PORT/, or add the name to "
                    "CLOUDBRAIN_HTTP_HOSTS",
                )
        await self.agent(request)
