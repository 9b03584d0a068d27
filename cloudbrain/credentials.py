"""Where the command line finds an agent's name and token.

In order: ``--name``/``--token`` flags, ``CLOUDBRAIN_AGENT``/``CLOUDBRAIN_TOKEN``, then the
credentials file that ``cloudbrain agent create --save`` writes (``$CLOUDBRAIN_HOME/credentials.json``,
readable by its owner only).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cloudbrain.errors import CloudBrainError
from cloudbrain.files import write_atomically


class MissingCredentials(CloudBrainError):
    pass


@dataclass(frozen=True)
class Credentials:
    name: str
    token: str


def credentials_path(home: Path) -> Path:
    return home / "credentials.json"


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise CloudBrainError(
            f"{path} is not valid JSON", hint="fix or delete it, then save the agents again"
        ) from None
    return data if isinstance(data, dict) else {}


def save(home: Path, name: str, token: str, *, make_default: bool = False) -> Path:
    """Store ``name``'s token; the first agent saved becomes the default."""
    path = credentials_path(home)
    data = _read(path)
    agents = data.get("agents")
    agents = dict(agents) if isinstance(agents, dict) else {}
    agents[name] = {"token": token}
    data["agents"] = agents
    if make_default or "default" not in data:
        data["default"] = name
    write_atomically(path, json.dumps(data, indent=2))  # 0600: tokens
    return path


def resolve(home: Path, name: str | None, token: str | None) -> Credentials:
    """Find the credentials to use, or say how to provide them."""
    name = name or os.environ.get("CLOUDBRAIN_AGENT") or None
    token = token or os.environ.get("CLOUDBRAIN_TOKEN") or None
    if name and token:
        return Credentials(name, token)
    data = _read(credentials_path(home))
    agents = data.get("agents")
    agents = agents if isinstance(agents, dict) else {}
    if name is None:
        default = data.get("default")
        name = default if isinstance(default, str) else None
    if name is None:
        raise MissingCredentials(
            "no agent to act as",
            hint="pass --name and --token, set CLOUDBRAIN_AGENT and CLOUDBRAIN_TOKEN, or create "
            "one with `cloudbrain agent create NAME --save`",
        )
    entry = agents.get(name)
    saved = entry.get("token") if isinstance(entry, dict) else None
    if not isinstance(saved, str):
        raise MissingCredentials(
            f"no token for agent {name!r}",
            hint=f"pass --token, or save it with `cloudbrain agent create {name} --save`",
        )
    return Credentials(name, saved)
