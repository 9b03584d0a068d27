"""``cloudbrain login``, ``logout`` and ``logins``: which servers this machine knows, as whom.

A login is checked before it is saved: the client connects, the server's certificate must be
the one the person said to trust, and the server must take the token.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer
from rich.markup import escape
from rich.table import Table

from cloudbrain.cli.options import Home, Json, run, settings
from cloudbrain.cli.output import console, emit, fail
from cloudbrain.errors import CloudBrainError

if TYPE_CHECKING:
    from cloudbrain.tls import Trust


def login(
    url: str = typer.Argument(
        ..., help="The server, e.g. wss://laptop.local:8766 (what `cloudbrain server` printed)."
    ),
    name: str = typer.Option(
        None,
        "--name",
        "-n",
        help="Agent to log in as (default: the one saved for URL).",
        show_default=False,
    ),
    token: str = typer.Option(
        None,
        "--token",
        help="Its token (env CLOUDBRAIN_TOKEN; asked for when not given and not saved).",
        show_default=False,
    ),
    ca: Path = typer.Option(
        None,
        "--ca",
        help="The server's CA file (ca.pem, as `cloudbrain tls init` printed); kept with the "
        "login, so the file may be deleted afterwards.",
        show_default=False,
    ),
    pin: str = typer.Option(
        None,
        "--pin",
        help="The server certificate's fingerprint (sha256:…), instead of a CA file.",
        show_default=False,
    ),
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Log in to a server and make it the one later commands talk to.

    Saved per server, so a token is only ever sent to the server it was saved for. Run it
    again with another URL to switch; with a URL already saved, no token is needed.

    Example, on the Jetson, with the CA copied from the laptop:

      cloudbrain login wss://laptop.local:8766 --name jetson-agent --ca ca.pem
    """
    import os

    from cloudbrain.credentials import resolve, save, saved_servers, trust_for
    from cloudbrain.tls import Trust

    config = settings(home)
    if not _server_address(url):
        fail(
            CloudBrainError(
                f"{url[:100]!r} is not the address of a CloudBrain server",
                hint="use ws://HOST:PORT, or wss://HOST:PORT for a server with TLS (as "
                "`cloudbrain server` printed it)",
            ),
            as_json,
        )
    if ca is not None and pin is not None:
        fail(CloudBrainError("--ca and --pin both given", hint="trust the server one way"), as_json)
    token = token or os.environ.get("CLOUDBRAIN_TOKEN") or None
    try:
        ca_pem = ca.read_text() if ca is not None else None
        if token is None and any(s["url"] == url.rstrip("/") for s in saved_servers(config.home)):
            saved = resolve(config.home, url, name, None)  # switching to a server saved before
            name, token = saved.name, saved.token
        elif not name:
            raise CloudBrainError(f"which agent on {url}?", hint="pass --name NAME")
        trust = (
            Trust(ca_data=ca_pem or "", pin=pin or "")
            if ca_pem or pin
            else trust_for(config.home, url)
        )
    except OSError as exc:
        fail(CloudBrainError(f"cannot read {ca}: {exc.strerror}", hint="check --ca"), as_json)
    except CloudBrainError as exc:
        fail(exc, as_json)
    if token is None:
        if not sys.stdin.isatty():  # nobody to ask
            fail(
                CloudBrainError(
                    f"no token for {name} on {url}", hint="pass --token or CLOUDBRAIN_TOKEN"
                ),
                as_json,
            )
        token = typer.prompt(f"token of {name} on {url}", hide_input=True)
    assert name is not None
    welcome = run(_check(url, name, token, trust), as_json)
    save(
        config.home,
        url,
        name,
        token,
        make_default=True,
        ca_pem=ca_pem,
        pin=pin,
        make_current=True,
    )
    emit(
        {"url": url.rstrip("/"), "agent": name, "server": welcome},
        as_json,
        lambda: console.print(
            f"logged in to [cyan]{escape(url)}[/] as [bold]{escape(name)}[/]; "
            "later commands talk to it",
            highlight=False,
        ),
    )


def _server_address(url: str) -> bool:
    """Whether ``url`` can be a server's WebSocket address."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("ws", "wss") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port out of range, a broken IPv6 address
        return False


async def _check(url: str, name: str, token: str, trust: Trust) -> str:
    """Connect as ``name``: the certificate and the token must both be right. The server's
    name, as its welcome gives it."""
    from cloudbrain.agent.client import Client
    from cloudbrain.protocol import ONE_SHOT_CAPABILITY

    check = Client(url, name, token, trust=trust, timeout=10, capabilities=(ONE_SHOT_CAPABILITY,))
    async with check as client:
        assert client.welcome is not None
        return client.welcome.server


def logout(
    url: str = typer.Argument(
        None, help="The server (default: the current one).", show_default=False
    ),
    name: str = typer.Option(
        None,
        "--name",
        "-n",
        help="Only this agent (default: every agent saved for URL).",
        show_default=False,
    ),
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Forget the tokens saved for a server on this machine (the agents stay on the server)."""
    from cloudbrain.credentials import forget, server_url

    config = settings(home)
    target = url or server_url(config.home)
    removed = forget(config.home, target, name)
    if not removed:
        fail(
            CloudBrainError(
                f"nothing saved for {name + ' on ' if name else ''}{target}",
                hint="`cloudbrain logins` lists what is saved",
            ),
            as_json,
        )
    emit(
        {"url": target, "removed": removed},
        as_json,
        lambda: console.print(
            f"forgot {', '.join(removed)} on {target}", highlight=False, markup=False
        ),
    )


def logins(home: Path = Home, as_json: bool = Json) -> None:
    """List the servers this machine has logins for; * marks the one commands talk to."""
    from cloudbrain.credentials import saved_servers

    servers = saved_servers(settings(home).home)

    def render() -> None:
        if not servers:
            console.print("no logins yet: `cloudbrain login URL --name NAME` adds one")
            return
        table = Table("", "server", "agents (default first)", "certificate checked by")
        for entry in servers:
            others = [a for a in entry["agents"] if a != entry["default"]]
            table.add_row(
                "*" if entry["current"] else "",
                entry["url"],
                ", ".join([entry["default"], *others]),
                {
                    "pinned": "pinned fingerprint",
                    "ca": "saved CA",
                    "system": "system CAs",
                    "none": "not encrypted",
                }[entry["trust"]],
            )
        console.print(table)

    emit(servers, as_json, render)
