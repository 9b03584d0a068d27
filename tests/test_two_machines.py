"""A laptop and a Jetson on a LAN, as two network namespaces joined by a veth pair.

The server runs on "laptop" over TLS, on its LAN address; the agent alice runs first on the
laptop, then on "jetson", with its device-local memory there; bob asks from the laptop.
Everything goes through the `cloudbrain` command a person would type on each machine.

The link is cut by taking the Jetson's side of the cable down and ending the agent's TCP
connection (``ss -K``), which is what its keepalive would do after 40 seconds of silence;
the messages sent meanwhile must arrive once each when the link is back.

Needs root and iproute2 (as CI has); elsewhere it skips, saying why, unless
CLOUDBRAIN_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudbrain.certificates import make_server_files
from tests.services import cli_env, free_port, service_missing

CLI_SECONDS = 60


@dataclass(frozen=True)
class Host:
    """One machine: a network namespace with one end of the cable."""

    namespace: str
    link: str  # its end of the veth pair
    address: str

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def cloudbrain(
        self, home: Path, *args: str, ok: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`cloudbrain ARGS` typed on this machine, by someone whose data folder is ``home``."""
        done = subprocess.run(
            self.argv(sys.executable, "-m", "cloudbrain", *args),
            env=cli_env(home, COLUMNS="300", **env),
            capture_output=True,
            text=True,
            timeout=CLI_SECONDS,
        )
        if ok:
            assert done.returncode == 0, f"cloudbrain {' '.join(args)}:\n{done.stderr}{done.stdout}"
        return done

    def json(self, home: Path, *args: str) -> Any:
        return json.loads(self.cloudbrain(home, *args, "--json").stdout)

    def start(self, home: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                self.argv(sys.executable, "-m", "cloudbrain", *args),
                env=cli_env(home),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.namespace, *args], check=True, timeout=30)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextmanager
def lan() -> Iterator[tuple[Host, Host]]:
    """Two hosts on a /24 of their own, made for this test and removed after it."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ss") is None:
        service_missing(
            "network namespaces", "they need root and iproute2", "run the tests as root"
        )
    tag = uuid.uuid4().hex[:6]
    subnet = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}"
    laptop = Host(f"cb-laptop-{tag}", f"cbl{tag}", f"{subnet}.1")
    jetson = Host(f"cb-jetson-{tag}", f"cbj{tag}", f"{subnet}.2")
    made: list[str] = []
    try:
        for host in (laptop, jetson):
            _ip("netns", "add", host.namespace)
            made.append(host.namespace)
        _ip("link", "add", laptop.link, "type", "veth", "peer", "name", jetson.link)
        for host in (laptop, jetson):
            _ip("link", "set", host.link, "netns", host.namespace)
            host.ip("addr", "add", f"{host.address}/24", "dev", host.link)
            host.ip("link", "set", host.link, "up")
            host.ip("link", "set", "lo", "up")
        yield laptop, jetson
    except subprocess.CalledProcessError as exc:
        service_missing("network namespaces", f"{exc.cmd}: {exc.stderr}", "run the tests as root")
    finally:
        for namespace in made:  # deleting a namespace deletes its end of the cable, and so both
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)


def until(what: str, check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise TimeoutError(what)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def online(host: Host, home: Path, name: str, device: str) -> bool:
    agents = {a["name"]: a for a in host.json(home, "who")}
    return name in agents and device in [s["device"] for s in agents[name].get("sessions", [])]


def test_a_conversation_begun_on_the_laptop_goes_on_on_the_jetson(tmp_path: Path) -> None:
    server_home, bob, alice_laptop, alice_jetson = (
        tmp_path / "server",
        tmp_path / "bob",
        tmp_path / "alice-laptop",
        tmp_path / "alice-jetson",
    )
    with lan() as (laptop, jetson):
        port = free_port()
        url = f"wss://{laptop.address}:{port}"
        # On the laptop: a certificate for its LAN address, and two agents.
        cert = laptop.json(
            server_home, "tls", "init", "--name", laptop.address, "--name", "laptop.lan"
        )
        tokens = {
            name: laptop.json(server_home, "agent", "create", name)["token"]
            for name in ("alice", "bob")
        }
        # Without TLS, listening on the LAN is refused.
        plain = laptop.cloudbrain(
            tmp_path / "no-tls", "server", "--host", laptop.address, "--port", str(port), ok=False
        )
        assert plain.returncode == 1 and "clear text" in plain.stderr

        server_log = tmp_path / "server.log"
        server = laptop.start(
            server_home, server_log, "server", "--host", laptop.address, "--port", str(port)
        )
        agents: list[subprocess.Popen[bytes]] = []
        try:
            until("the server to listen", lambda: "server listening on" in server_log.read_text())
            assert f"listening on {laptop.address}:{port}" in server_log.read_text()

            # Logins: bob and alice on the laptop with the CA file, alice on the Jetson by pin.
            for who, home in (("bob", bob), ("alice", alice_laptop)):
                laptop.cloudbrain(
                    home, "login", url, "--name", who, "--token", tokens[who], "--ca", cert["ca"]
                )
            jetson.cloudbrain(
                alice_jetson,
                "login",
                url,
                "--name",
                "alice",
                "--token",
                tokens["alice"],
                "--pin",
                cert["fingerprint"],
            )
            # Another CA, or clear text to the TLS port, gets nowhere; the token stays home.
            before = len(server_log.read_text())
            stranger = make_server_files(tmp_path / "stranger", [laptop.address])
            wrong = jetson.cloudbrain(
                tmp_path / "mallory",
                "login",
                url,
                "--name",
                "alice",
                "--token",
                tokens["alice"],
                "--ca",
                str(stranger.ca),
                ok=False,
            )
            assert wrong.returncode == 1 and "not trusted" in wrong.stderr
            clear = jetson.cloudbrain(
                tmp_path / "mallory",
                "who",
                ok=False,
                CLOUDBRAIN_URL=f"ws://{laptop.address}:{port}",
                CLOUDBRAIN_AGENT="alice",
                CLOUDBRAIN_TOKEN=tokens["alice"],
            )
            assert clear.returncode == 1
            assert "alice" not in server_log.read_text()[before:]  # no hello reached the server

            # alice learns on the laptop.
            on_laptop = laptop.start(
                alice_laptop,
                tmp_path / "alice-laptop.log",
                "agent",
                "run",
                "--device",
                "laptop",
                "--brain",
                "recall",
            )
            agents.append(on_laptop)
            until("alice online on the laptop", lambda: online(laptop, bob, "alice", "laptop"))
            laptop.cloudbrain(
                bob, "send", "alice", "Remember that the build machine is called Atlas"
            )
            noted = json.loads(laptop.cloudbrain(bob, "listen", "--count", "1", "--json").stdout)
            assert noted["sender"] == "alice" and noted["body"].startswith("Noted")
            assert stop(on_laptop) == 0

            # ... and goes on on the Jetson, where bob's ask from the laptop reaches her.
            on_jetson = jetson.start(
                alice_jetson,
                tmp_path / "alice-jetson.log",
                "agent",
                "run",
                "--device",
                "jetson",
                "--brain",
                "recall",
            )
            agents.append(on_jetson)
            until("alice online on the jetson", lambda: online(laptop, bob, "alice", "jetson"))
            result = laptop.json(
                bob,
                "ask",
                "What is the build machine called?",
                "--agent",
                "alice",
                "--timeout",
                "20",
            )
            live = [a for a in result["answers"] if a["source"] == "live"]
            assert live and live[0]["agent"] == "alice" and live[0]["device"] == "jetson"
            assert "Atlas" in live[0]["text"]

            # The cable is pulled; bob writes three times; the cable is back.
            jetson.ip("link", "set", jetson.link, "down")
            subprocess.run(
                jetson.argv("ss", "-K", "dst", laptop.address),
                check=True,
                capture_output=True,
                timeout=30,
            )
            facts = {
                "vpn": "the VPN port is 443",
                "printer": "the printer is on floor three",
                "wifi": "the guest wifi is called Tulip",
            }
            sent = [
                laptop.json(bob, "send", "alice", f"Remember that {fact}")["re"]
                for fact in facts.values()
            ]
            jetson.ip("link", "set", jetson.link, "up")
            replies = [
                json.loads(line)
                for line in laptop.cloudbrain(
                    bob, "listen", "--count", "3", "--json"
                ).stdout.splitlines()
            ]
            assert sorted(r["reply_to"] for r in replies) == sorted(sent)  # each answered once

            # What alice learned on the Jetson reaches the server's memory, once each.
            def learned() -> dict[str, int]:
                found = laptop.json(
                    bob, "memory", "search", "VPN printer wifi", "--agent", "alice", "--limit", "20"
                )
                contents = [m["memory"]["content"] for m in found]
                return {key: sum(key in c.lower() for c in contents) for key in facts}

            until("what alice learned, in the server's memory", lambda: all(learned().values()))
            assert learned() == {key: 1 for key in facts}
        finally:
            for process in agents:
                stop(process)
            stop(server)
