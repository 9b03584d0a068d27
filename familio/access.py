"""Who may use the web view and the REST API.

Reads are open to this machine by default (``CLOUDBRAIN_HTTP_READS=loopback``); ``anyone``
opens them to every address the server listens on, and ``nobody`` asks a token for them too.
Every write acts as an agent, proven by its token: ``Authorization: Bearer cb_...`` from a
program, or, from a browser, the cookie of a login made with that token at ``/login``
(:mod:`cloudbrain.familio.logins`). A login reads whatever the read policy is.

Reads granted because the peer is this machine also need a ``Host`` header that names this
server. A page of another site in a browser here can point its own DNS name at 127.0.0.1 (DNS
rebinding): its requests then come from loopback, but carry that site's name as their Host.
A login cookie counts only on a request whose Host names this server, for the same reason.

A browser sends the cookie with whatever request a page makes, a page of another site too, so
a write that the cookie proves also needs the login's form token (a field of every form that
writes, or ``X-CSRF-Token``) and an ``Origin`` (or ``Referer``) of this server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.auth_limit import AuthFailures
from cloudbrain.errors import CloudBrainError, ErrorCode, ProtocolError
from cloudbrain.familio.logins import Login, Logins, same_token
from cloudbrain.identity import agent_of_token
from cloudbrain.peers import is_loopback
from cloudbrain.storage.web_logins import WebLoginStore

READ_POLICIES = ("loopback", "anyone", "nobody")
# Names that always mean this machine; loopback addresses (127.0.0.0/8, ::1) are taken too.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = ("0.0.0.0", "::", "")  # a listening address, not a name anyone asks for
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # methods that change nothing here

# The login cookie. Under TLS its name has the __Host- prefix: a browser then takes it only
# with Secure, for the whole site and this host alone (no Domain), so no neighbour on a
# parent domain and no plain-HTTP page can plant one.
COOKIE = "familio_login"
# Holds the token of the login form until the login is made (login CSRF: no other site may
# log a browser in as an agent of its choosing).
FORM_COOKIE = "familio_login_form"


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


def from_this_server(request: Request, *, secure: bool) -> bool:
    """Whether the browser says this request comes from a page of this server: its ``Origin``
    (or, from a browser that sends none, its ``Referer``) has the scheme and host the request
    was sent to. Browsers send Origin with every POST; a request with neither is refused."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    try:
        parts = urlsplit(source)
    except ValueError:
        return False
    schemes = ("https",) if secure else ("http", "https")
    host = request.headers.get("host", "")
    return parts.scheme in schemes and bool(host) and parts.netloc.lower() == host.lower()


class Access:
    def __init__(
        self,
        engine: AsyncEngine,
        policy: str,
        hosts: Iterable[str] = LOCAL_NAMES,
        *,
        secure_cookies: bool = False,
        failures: AuthFailures | None = None,
    ) -> None:
        self.engine = engine
        self.policy = check_policy(policy)
        self.hosts = frozenset(hosts)
        # True when the server runs under TLS: cookies are then Secure (and __Host- named).
        self.secure_cookies = secure_cookies
        self.logins = Logins(WebLoginStore(engine))
        # Failed logins per client address, as the SMTP gateway counts failed AUTH.
        self.failures = failures if failures is not None else AuthFailures()

    @property
    def cookie(self) -> str:
        return f"__Host-{COOKIE}" if self.secure_cookies else COOKIE

    @property
    def form_cookie(self) -> str:
        return f"__Host-{FORM_COOKIE}" if self.secure_cookies else FORM_COOKIE

    def check_host(self, request: Request) -> None:
        """``forbidden`` unless the request's Host names this server."""
        host = request.headers.get("host")
        if not names_this_server(host, self.hosts):
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"the Host header {(host or '')[:100]!r} does not name this server: open it "
                "as http://127.0.0.1:PORT/ or http://localhost:PORT/, or add the name to "
                "CLOUDBRAIN_HTTP_HOSTS",
            )

    async def login(self, request: Request) -> Login | None:
        """The live login the request's cookie stands for (looked up once per request), or
        None; ``forbidden`` for a cookie sent to a Host that does not name this server."""
        if hasattr(request.state, "login"):
            found: Login | None = request.state.login
            return found
        raw = request.cookies.get(self.cookie)
        if raw is not None:
            self.check_host(request)
        login = await self.logins.find(raw)
        request.state.login = login
        return login

    async def agent(self, request: Request, form_token: str | None = None) -> str:
        """The agent a request acts as; ``auth_failed`` without a valid token or login. A
        write that only a login proves also needs ``form_token`` (or ``X-CSRF-Token``) and
        to come from a page of this server: ``forbidden`` otherwise."""
        token = bearer(request)
        if token is None:
            login = await self.login(request)
            if login is None:
                raise ProtocolError(
                    ErrorCode.AUTH_FAILED,
                    "this needs an agent's token: send 'Authorization: Bearer cb_...', or log "
                    "in at /login",
                )
            if request.method not in SAFE_METHODS:
                self.check_form(request, login, form_token or request.headers.get("x-csrf-token"))
            return login.agent
        record = await agent_of_token(self.engine, token)
        if record is None:
            raise ProtocolError(ErrorCode.AUTH_FAILED, "that token is not an active agent's")
        return record.name

    def check_form(self, request: Request, login: Login, given: str | None) -> None:
        """``forbidden`` unless a write proven by ``login`` comes from a page of this server
        and carries the login's form token."""
        if not from_this_server(request, secure=self.secure_cookies):
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                "this form was not sent from a page of this server (its Origin or Referer "
                "names another site, or is missing): refused",
            )
        if not same_token(given, login.form_token):
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                "the form's security token is missing or wrong (the page may be from an "
                "earlier login): reload the page and send it again",
            )

    async def may_read(self, request: Request) -> None:
        """Nothing when reading is allowed; ``auth_failed`` otherwise, or ``forbidden`` for a
        tokenless read from this machine that names another site as its Host."""
        if await self.login(request) is not None:
            return
        if self.policy == "anyone":
            return
        if self.policy == "loopback" and is_loopback(
            request.client.host if request.client else None
        ):
            if names_this_server(request.headers.get("host"), self.hosts):
                return
            if bearer(request) is None:
                # A token proves itself wherever the request says it goes; without one, this
                # is what a rebinding page would send.
                self.check_host(request)
        await self.agent(request)
