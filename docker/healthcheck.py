"""The image's HEALTHCHECK: is the ``cloudbrain server`` in this container answering?

It finds the server's command line in /proc (PID 1, or a child of an init), reads the ports
the way the server does (flag, then ``CLOUDBRAIN_*`` variable, then default) and asks the
web view's listener for ``GET /healthz``, which answers whatever the read policy (over HTTPS
when the server has a certificate); with the web view off (``--no-http``) it checks that the
WebSocket port accepts connections. A container running anything else (an agent) has no port
to probe and passes: it is up as long as its command runs. Exit 0 healthy, 1 not.

Only the standard library: slim images have no curl.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

TIMEOUT = 4.0
ANY_ADDRESS = ("0.0.0.0", "::", "")


def cloudbrain_args(cmdline: Sequence[str]) -> list[str] | None:
    """The arguments after ``cloudbrain`` (or ``python -m cloudbrain``), or None."""
    for i, word in enumerate(cmdline):
        if os.path.basename(word) == "cloudbrain":
            return list(cmdline[i + 1 :])
        if word == "-m" and cmdline[i + 1 : i + 2] == ["cloudbrain"]:
            return list(cmdline[i + 2 :])
    return None


def running_commands(proc: Path = Path("/proc")) -> list[list[str]]:
    """Every ``cloudbrain`` command line running here, lowest PID first."""
    found = []
    pids = sorted((p for p in proc.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    for pid in pids:
        try:
            raw = (pid / "cmdline").read_bytes()
        except OSError:
            continue
        args = cloudbrain_args(raw.decode(errors="replace").split("\0")[:-1])
        if args is not None:
            found.append(args)
    return found


def option(args: Sequence[str], flag: str) -> str | None:
    """The last value given to ``flag`` (``--flag V`` or ``--flag=V``)."""
    value = None
    for i, word in enumerate(args):
        if word == flag and i + 1 < len(args):
            value = args[i + 1]
        elif word.startswith(flag + "="):
            value = word.split("=", 1)[1]
    return value


def switch(args: Sequence[str], name: str, env: Mapping[str, str]) -> bool:
    """``--name``/``--no-name``, then ``CLOUDBRAIN_NAME``; on by default."""
    given = [w for w in args if w in (f"--{name}", f"--no-{name}")]
    if given:
        return given[-1] == f"--{name}"
    raw = env.get(f"CLOUDBRAIN_{name.upper()}", "").lower()
    return raw not in ("0", "false", "no", "off")


def setting(args: Sequence[str], flag: str, env: Mapping[str, str], default: str) -> str:
    """``--flag V``, then ``CLOUDBRAIN_FLAG``, then ``default``."""
    variable = "CLOUDBRAIN_" + flag.removeprefix("--").replace("-", "_").upper()
    return option(args, flag) or env.get(variable) or default


def tls_in_force(args: Sequence[str], env: Mapping[str, str]) -> bool:
    """Whether the server serves HTTPS: a certificate given (``--tls-cert``), or the one
    ``cloudbrain tls init`` wrote under its home, as the server decides."""
    if setting(args, "--tls-cert", env, ""):
        return True
    home = Path(setting(args, "--home", env, "~/.cloudbrain")).expanduser()
    return (home / "tls" / "server.pem").exists() and (home / "tls" / "server-key.pem").exists()


def probe(args: Sequence[str], env: Mapping[str, str]) -> str | None:
    """None when the server that ``args`` started answers; otherwise why not."""
    host = setting(args, "--host", env, "127.0.0.1")
    host = "127.0.0.1" if host in ANY_ADDRESS else host
    http_host = setting(args, "--http-host", env, host)
    http_host = "127.0.0.1" if http_host in ANY_ADDRESS else http_host
    http_port = setting(args, "--http-port", env, "8767")
    if switch(args, "http", env) and http_port != "0":
        scheme, context = "http", None
        if tls_in_force(args, env):
            # The server asked on its own address: whether it answers, not who it is (its
            # clients check the certificate), so the name on it need not match.
            scheme, context = "https", ssl._create_unverified_context()
        url = f"{scheme}://{http_host}:{http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT, context=context) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            return f"{url}: {exc}"
        return None if status == 200 else f"{url}: HTTP {status}"
    port = int(setting(args, "--port", env, "8766"))
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc}"


def main(proc: Path = Path("/proc"), env: Mapping[str, str] = os.environ) -> int:
    commands = running_commands(proc)
    servers = [args for args in commands if args[:1] == ["server"]]
    if not servers:
        # An agent (or another command) is running: nothing to probe. Nothing at all: sick.
        return 0 if commands else 1
    reason = probe(servers[0], env)
    if reason is not None:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
