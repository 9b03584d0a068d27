"""Which server the command line talks to, as whom, and how it knows the server is that one.

Identities are kept per server, as a browser keeps cookies per site: ``credentials.json`` in
``$CLOUDBRAIN_HOME`` (readable by its owner only) maps each server URL to its agents' tokens,
its default agent, and how its certificate is checked (a CA kept in the file, or a pinned
fingerprint). One server is *current*: ``cloudbrain login URL`` saves and switches to it.

The server, in order: ``--url``, ``CLOUDBRAIN_URL``, the current server, then this machine's
own (``CLOUDBRAIN_PORT``, wss:// once ``cloudbrain tls init`` made a certificate). The agent:
``--name``/``--token``, ``CLOUDBRAIN_AGENT``/``CLOUDBRAIN_TOKEN``, then what is saved for
*that* server. A token saved for one server is never sent to another: asking for an agent
that is saved only elsewhere is an error that names where it is saved.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudbrain.errors import CloudBrainError
from cloudbrain.files import write_atomically
from cloudbrain.settings import Settings
from cloudbrain.tls import CA_FILE, Trust, normal_pin, tls_folder


class MissingCredentials(CloudBrainError):
    pass


@dataclass(frozen=True)
class Credentials:
    name: str
    token: str
    url: str
    trust: Trust


def credentials_path(home: Path) -> Path:
    return home / "credentials.json"


def server_url(home: Path, explicit: str | None = None) -> str:
    """The server a client command talks to (see the module's docstring)."""
    chosen = explicit or os.environ.get("CLOUDBRAIN_URL") or _read(home).get("current")
    if isinstance(chosen, str) and chosen:
        return _key(chosen)
    return Settings.load(home=home).url


def resolve(home: Path, url: str | None, name: str | None, token: str | None) -> Credentials:
    """Who to act as on which server, and how to trust it; or say how to provide them."""
    url = server_url(home, url)
    data = _read(home)
    entry = _servers(data).get(url, {})
    trust = trust_for(home, url)
    name = name or os.environ.get("CLOUDBRAIN_AGENT") or None
    token = token or os.environ.get("CLOUDBRAIN_TOKEN") or None
    if name and token:
        return Credentials(name, token, url, trust)
    agents = entry.get("agents", {})
    if name is None:
        default = entry.get("default")
        name = default if isinstance(default, str) else None
    if name is None:
        raise MissingCredentials(
            f"no agent to act as on {url}",
            hint=f"log in with `cloudbrain login {url} --name NAME`, pass --name and --token, "
            "or create one with `cloudbrain agent create NAME --save`"
            + _elsewhere(data, url, None),
        )
    saved = agents.get(name, {}).get("token") if isinstance(agents.get(name), dict) else None
    if not isinstance(saved, str):
        raise MissingCredentials(
            f"no token for agent {name!r} on {url}",
            hint=f"pass --token, or log in with `cloudbrain login {url} --name {name}`"
            + _elsewhere(data, url, name),
        )
    return Credentials(name, saved, url, trust)


def save(
    home: Path,
    url: str,
    name: str,
    token: str,
    *,
    make_default: bool = False,
    ca_pem: str | None = None,
    pin: str | None = None,
    make_current: bool = False,
) -> Path:
    """Keep ``name``'s token for the server at ``url`` (with how to trust it, when given); the
    first agent saved for a server becomes its default, the first server the current one."""
    url = _key(url)
    path = credentials_path(home)
    data = _read(home)
    servers = _servers(data)
    entry = servers.setdefault(url, {})
    entry.setdefault("agents", {})[name] = {"token": token}
    if make_default or "default" not in entry:
        entry["default"] = name
    if ca_pem is not None or pin is not None:
        entry.pop("ca_pem", None)
        entry.pop("pin", None)
        if ca_pem:
            entry["ca_pem"] = ca_pem
        if pin:
            entry["pin"] = normal_pin(pin)
    data = {"current": data.get("current"), "servers": servers}
    if make_current or not data["current"]:
        data["current"] = url
    write_atomically(path, json.dumps(data, indent=2))  # 0600: tokens
    return path


def forget(home: Path, url: str, name: str | None = None) -> list[str]:
    """Remove the saved tokens of the server at ``url`` (only ``name``'s, when given); returns
    the names removed."""
    url = _key(url)
    data = _read(home)
    servers = _servers(data)
    entry = servers.get(url)
    if entry is None:
        return []
    agents = entry.get("agents", {})
    removed = [n for n in agents if name is None or n == name]
    for n in removed:
        del agents[n]
    if not agents:
        del servers[url]
    elif entry.get("default") in removed:
        entry["default"] = next(iter(agents))
    current = data.get("current")
    if current == url and url not in servers:
        current = next(iter(servers), None)
    write_atomically(
        credentials_path(home), json.dumps({"current": current, "servers": servers}, indent=2)
    )
    return removed


def saved_tokens(home: Path, name: str) -> list[str]:
    """Every token saved for an agent called ``name``, whatever its server: for the one
    program that can check them without sending them anywhere, the owner of the database."""
    found = []
    for entry in _servers(_read(home)).values():
        agent = entry.get("agents", {}).get(name)
        if isinstance(agent, dict) and isinstance(agent.get("token"), str):
            found.append(agent["token"])
    return found


def saved_servers(home: Path) -> list[dict[str, Any]]:
    """What is saved, server by server, without the tokens (for listing)."""
    data = _read(home)
    return [
        {
            "url": url,
            "current": url == data.get("current"),
            "agents": sorted(entry.get("agents", {})),
            "default": entry.get("default"),
            "trust": "none"
            if not url.startswith("wss://")
            else "pinned"
            if entry.get("pin")
            else "ca"
            if entry.get("ca_pem")
            else "system",
        }
        for url, entry in _servers(data).items()
    ]


def trust_for(home: Path, url: str) -> Trust:
    """How the certificate of the server at ``url`` is checked: CLOUDBRAIN_CA or
    CLOUDBRAIN_PIN, then what was saved with the server, then the CA this machine made (for
    its own server), then the system's CAs."""
    entry = _servers(_read(home)).get(_key(url), {})
    ca_file, pin = os.environ.get("CLOUDBRAIN_CA", ""), os.environ.get("CLOUDBRAIN_PIN", "")
    if ca_file or pin:
        return Trust(ca_file=ca_file, pin=pin)
    if entry.get("pin") or entry.get("ca_pem"):
        return Trust(ca_data=str(entry.get("ca_pem", "")), pin=str(entry.get("pin", "")))
    own = tls_folder(home) / CA_FILE
    return Trust(ca_file=str(own)) if own.exists() else Trust()


def _elsewhere(data: dict[str, Any], url: str, name: str | None) -> str:
    """Where else an agent is saved, as the end of a hint (the token is not tried there)."""
    others = [
        other
        for other, entry in _servers(data).items()
        if other != url and (name is None or name in entry.get("agents", {}))
    ]
    return f" (saved for {', '.join(others)}: pass --url to use it)" if others else ""


def _key(url: str) -> str:
    return url.strip().rstrip("/")


def _servers(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    servers = data.get("servers")
    return (
        {k: v for k, v in servers.items() if isinstance(v, dict)}
        if isinstance(servers, dict)
        else {}
    )


def _read(home: Path) -> dict[str, Any]:
    path = credentials_path(home)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise CloudBrainError(
            f"{path} is not valid JSON", hint="fix or delete it, then log in again"
        ) from None
    if not isinstance(data, dict):
        return {}
    if "agents" in data and "servers" not in data:
        # Written before identities knew their server: they were made for this machine's.
        own = Settings.load(home=home).url
        data = {
            "current": own,
            "servers": {own: {"agents": data["agents"], "default": data.get("default")}},
        }
    return data
