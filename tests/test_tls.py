"""TLS on every listener, a bind address per listener, no clear text off this machine, and
clients that check the certificate before the token leaves.

The certificates are made as `cloudbrain tls init` makes them (its CLI is tested at the end,
with the logins it prints), and the servers are real: wss:// through the project's client,
https:// through httpx, SMTP with TLS from the first byte through smtplib.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import smtplib
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cloudbrain.agent.client import Client
from cloudbrain.agent.errors import CannotConnect
from cloudbrain.certificates import ServerFiles, make_server_files
from cloudbrain.db import create_engine, upgrade
from cloudbrain.errors import CloudBrainError
from cloudbrain.identity import create_agent
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from cloudbrain.tls import CertificateRefused, Trust, normal_pin, plaintext_refusal
from tests.services import ServerProcess, cli_env
from tests.test_familio_login import cookie_set, log_in
from tests.test_smtp_gateway import outside_address, plain


def local_settings(home: Path, **changes: object) -> Settings:
    return Settings(
        home=home,
        port=0,
        smtp_port=0,
        http_port=0,
        node="tls-node",
        hello_timeout=1.0,
        reputation_every=0.1,
    ).with_(**changes)


async def agent(home: Path, name: str) -> str:
    db = local_settings(home).db_url
    await asyncio.to_thread(upgrade, db)
    engine = create_engine(db)
    try:
        return (await create_agent(engine, name))[1]
    finally:
        await engine.dispose()


@pytest.fixture
def made(tmp_path: Path) -> ServerFiles:
    return make_server_files(tmp_path / "home", ["localhost", "127.0.0.1"])


@pytest.fixture
async def tls_server(made: ServerFiles, tmp_path: Path) -> AsyncIterator[Server]:
    # No certificate named: the server finds the one under home/tls, as after `tls init`.
    async with Server(local_settings(tmp_path / "home")) as server:
        yield server


async def test_agents_reach_a_tls_server_that_proves_itself(
    tls_server: Server, made: ServerFiles, tmp_path: Path
) -> None:
    assert tls_server.url.startswith("wss://127.0.0.1:")
    alice, bob = await agent(tmp_path / "home", "alice"), await agent(tmp_path / "home", "bob")
    by_ca = Trust(ca_file=str(made.ca))
    by_pin = Trust(pin=made.fingerprint.upper().replace("SHA256:", ""))  # as people paste it
    async with (
        Client(tls_server.url, "alice", alice, trust=by_ca) as sender,
        Client(tls_server.url, "bob", bob, trust=by_pin) as receiver,
    ):
        await sender.send("bob", "over wss")
        got = await receiver.receive(timeout=5)
    assert got.body == "over wss"


async def test_a_certificate_the_client_does_not_trust_is_refused_before_hello(
    tls_server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = await agent(tmp_path / "home", "alice")
    stranger = make_server_files(tmp_path / "elsewhere", ["localhost", "127.0.0.1"])
    caplog.set_level(logging.INFO, "cloudbrain.server")
    for trust in (
        Trust(),  # the system's CAs: a private CA is not among them
        Trust(ca_file=str(stranger.ca)),
        Trust(pin=stranger.fingerprint),
    ):
        with pytest.raises(CertificateRefused):
            await Client(tls_server.url, "alice", token, trust=trust, timeout=5).connect()
    # Refused on the client's side before a hello: the server never saw alice.
    assert "alice" not in caplog.text


async def test_the_certificate_must_name_the_address_dialled(tmp_path: Path) -> None:
    made = make_server_files(tmp_path / "home", ["laptop.example"])
    token = await agent(tmp_path / "home", "alice")
    async with Server(local_settings(tmp_path / "home")) as server:
        with pytest.raises(CertificateRefused, match=r"does not name 127\.0\.0\.1") as refused:
            await Client(
                server.url, "alice", token, trust=Trust(ca_file=str(made.ca)), timeout=5
            ).connect()
        assert "tls init --name 127.0.0.1" in refused.value.hint


async def test_clear_text_to_a_tls_port_gets_nowhere(tls_server: Server, tmp_path: Path) -> None:
    token = await agent(tmp_path / "home", "alice")
    plain_url = tls_server.url.replace("wss://", "ws://")
    with pytest.raises(CannotConnect):
        await Client(plain_url, "alice", token, timeout=3).connect()


async def test_the_web_view_is_https_only(tls_server: Server, made: ServerFiles) -> None:
    assert tls_server.http_url.startswith("https://")
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=made.ca)) as http:
        page = await http.get(f"{tls_server.http_url}/")
        assert page.status_code == 200 and "CloudBrain" in page.text
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # the system's CAs do not know ours
            await http.get(f"{tls_server.http_url}/")
        with pytest.raises(httpx.HTTPError):  # and clear text is not HTTP there
            await http.get(tls_server.http_url.replace("https://", "http://") + "/")


def _implicit_tls_mail(address: str, port: int, ca: Path, token: str) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    with smtplib.SMTP_SSL(address, port, context=context, timeout=30) as smtp:
        smtp.ehlo("tester.example")
        # From another address, inside TLS: AUTH is offered, and STARTTLS is not (it is TLS).
        assert smtp.has_extn("auth") and not smtp.has_extn("starttls")
        code, _ = smtp.docmd("AUTH", "PLAIN " + plain("alice", token))
        assert code == 235


async def test_the_mail_gateway_can_speak_tls_from_the_first_byte(tmp_path: Path) -> None:
    address = outside_address()
    made = make_server_files(tmp_path / "home", ["localhost", "127.0.0.1", address])
    token = await agent(tmp_path / "home", "alice")
    settings = local_settings(tmp_path / "home", smtp_host="0.0.0.0", smtp_implicit_tls=True)
    async with Server(settings) as server:
        await asyncio.to_thread(_implicit_tls_mail, address, server.smtp_port, made.ca, token)


async def test_listening_off_this_machine_without_tls_is_refused(tmp_path: Path) -> None:
    for open_one in ({"host": "0.0.0.0"}, {"smtp_host": "0.0.0.0"}, {"http_host": "::"}):
        with pytest.raises(CloudBrainError, match="clear text") as refused:
            await Server(local_settings(tmp_path / "home", **open_one)).start()
        assert "cloudbrain tls init" in refused.value.hint
    # Said out loud, it is allowed (a TLS proxy in front, say).
    allowed = local_settings(tmp_path / "home", host="0.0.0.0", allow_plaintext=True)
    async with Server(allowed) as server:
        assert server.url.startswith("ws://127.0.0.1:")


def test_only_listeners_that_stay_on_this_machine_may_skip_tls() -> None:
    local = {"WebSocket": "127.0.0.1", "web view": "::1", "mail gateway": "localhost"}
    assert plaintext_refusal(local, tls=False, allowed=False) is None
    lan = {**local, "web view": "192.168.1.10"}
    refusal = plaintext_refusal(lan, tls=False, allowed=False)
    assert refusal is not None and "web view on 192.168.1.10" in refusal
    assert "WebSocket" not in refusal
    assert plaintext_refusal(lan, tls=True, allowed=False) is None
    assert plaintext_refusal(lan, tls=False, allowed=True) is None


async def test_each_listener_binds_its_own_address_and_the_log_says_which(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cloudbrain.server.app")
    settings = local_settings(
        tmp_path / "home", ws_host="127.0.0.2", http_host="127.0.0.3", smtp_host="127.0.0.4"
    )
    async with Server(settings) as server:
        assert server.url == f"ws://127.0.0.2:{server.port}"
        assert server.http_url.startswith("http://127.0.0.3:")
        reader, writer = await asyncio.open_connection("127.0.0.4", server.smtp_port)
        assert (await reader.readline()).startswith(b"220 ")
        writer.close()
        for wrong in ("127.0.0.3", "127.0.0.4"):
            with pytest.raises(OSError):
                await asyncio.open_connection(wrong, server.port)
        log = caplog.text
        assert f"listening on 127.0.0.2:{server.port} " in log
        assert f"web view, listening on 127.0.0.3:{server.web.port if server.web else 0}" in log
        assert f"mail gateway on 127.0.0.4:{server.smtp_port} " in log


def test_pins_are_read_however_they_are_pasted() -> None:
    digest = "ab" * 32
    spelled = [
        digest,
        digest.upper(),
        f"sha256:{digest}",
        ":".join([digest[i : i + 2] for i in range(0, 64, 2)]),
    ]
    assert {normal_pin(p) for p in spelled} == {f"sha256:{digest}"}
    with pytest.raises(CloudBrainError, match="not a SHA-256"):
        normal_pin("ab" * 20)


# --- the command line: tls init, login, logins ---------------------------------------------


def cloudbrain(
    home: Path, *args: str, ok: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "cloudbrain", *args],
        env=cli_env(home, COLUMNS="300", **env),  # hints on one line
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


def test_tls_init_then_login_from_another_machine(tmp_path: Path) -> None:
    server_home, jetson = tmp_path / "laptop", tmp_path / "jetson"
    made = json.loads(
        cloudbrain(
            server_home, "tls", "init", "--name", "localhost", "--name", "127.0.0.1", "--json"
        ).stdout
    )
    for key in ("ca", "cert", "key"):
        assert Path(made[key]).exists()
    assert oct(Path(made["key"]).stat().st_mode & 0o777) == "0o600"
    shown = json.loads(cloudbrain(server_home, "tls", "show", "--json").stdout)
    assert shown["fingerprint"] == made["fingerprint"]
    assert shown["names"] == ["localhost", "127.0.0.1", "::1"]  # this machine's are always in
    token = json.loads(cloudbrain(server_home, "agent", "create", "jetson-agent", "--json").stdout)[
        "token"
    ]
    with ServerProcess(server_home, "") as server:
        url = f"wss://127.0.0.1:{server.port}"
        # The CA file copied over, then the login checks certificate and token, and keeps both.
        ca_copy = jetson / "ca.pem"
        ca_copy.parent.mkdir(parents=True)
        ca_copy.write_text(Path(made["ca"]).read_text())
        cloudbrain(
            jetson, "login", url, "--name", "jetson-agent", "--token", token, "--ca", str(ca_copy)
        )
        ca_copy.unlink()  # kept with the login, so the copy may go
        online = json.loads(cloudbrain(jetson, "who", "--json").stdout)
        assert [a["name"] for a in online] == ["jetson-agent"]
        listed = json.loads(cloudbrain(jetson, "logins", "--json").stdout)
        assert listed == [
            {
                "url": url,
                "current": True,
                "agents": ["jetson-agent"],
                "default": "jetson-agent",
                "trust": "ca",
            }
        ]
        # A wrong token is not saved; a wrong fingerprint is refused before the token is sent.
        wrong = cloudbrain(
            tmp_path / "other",
            "login",
            url,
            "--name",
            "jetson-agent",
            "--token",
            "cb_wrong",
            ok=False,
        )
        assert wrong.returncode == 1 and not (tmp_path / "other" / "credentials.json").exists()
        pinned = cloudbrain(
            tmp_path / "other",
            "login",
            url,
            "--name",
            "jetson-agent",
            "--token",
            token,
            "--pin",
            "ab" * 32,
            ok=False,
        )
        assert pinned.returncode == 1 and "pinned" in pinned.stderr
        # By fingerprint instead of the file, it works.
        cloudbrain(
            tmp_path / "other",
            "login",
            url,
            "--name",
            "jetson-agent",
            "--token",
            token,
            "--pin",
            made["fingerprint"],
        )


def test_a_token_saved_for_one_server_is_never_sent_to_another(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ServerProcess(tmp_path / "a", "") as first:
        token = json.loads(cloudbrain(tmp_path / "a", "agent", "create", "bob", "--json").stdout)[
            "token"
        ]
        cloudbrain(home, "login", first.url, "--name", "bob", "--token", token)
        # Another server named by CLOUDBRAIN_URL: bob is not saved there, so nothing is tried.
        elsewhere = cloudbrain(home, "who", ok=False, CLOUDBRAIN_URL="ws://127.0.0.1:9")
        assert elsewhere.returncode == 1
        assert f"saved for {first.url}" in elsewhere.stderr
        assert "cannot reach" not in elsewhere.stderr  # refused before connecting anywhere
        assert json.loads(cloudbrain(home, "who", "--json").stdout)  # the current one works
        cloudbrain(home, "logout")
        gone = cloudbrain(home, "who", ok=False)
        assert "no agent to act as" in gone.stderr


def test_credentials_written_before_servers_were_known_belong_to_this_machines_server(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "credentials.json").write_text(
        json.dumps({"agents": {"alice": {"token": "cb_x"}}, "default": "alice"})
    )
    os.chmod(home / "credentials.json", 0o600)
    listed = json.loads(cloudbrain(home, "logins", "--json", CLOUDBRAIN_PORT="8799").stdout)
    assert listed[0]["url"] == "ws://127.0.0.1:8799" and listed[0]["agents"] == ["alice"]


async def test_a_person_logs_in_to_the_web_view_by_a_name_its_certificate_carries(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    made = make_server_files(home, ["laptop.example", "127.0.0.1"])
    token = await agent(home, "alice")
    async with Server(local_settings(home, http_reads="nobody")) as server:
        assert server.web is not None
        # What a browser on the LAN sends: the name it typed, in Host and in Origin. No
        # CLOUDBRAIN_HTTP_HOSTS entry: the certificate's names are this server's names.
        named = f"laptop.example:{server.web.port}"
        async with httpx.AsyncClient(
            base_url=server.http_url,
            verify=ssl.create_default_context(cafile=made.ca),
            headers={"Host": named, "Origin": f"https://{named}"},
        ) as browser:
            logged_in = await log_in(browser, token)
            assert logged_in.status_code == 303
            cookie = cookie_set(logged_in, "__Host-familio_login").lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
            page = await browser.get("/", headers={"Accept": "text/html"})
            assert page.status_code == 200 and "alice" in page.text
            # A name the certificate does not carry is another site (DNS rebinding).
            foreign = await browser.get("/", headers={"Host": f"evil.example:{server.web.port}"})
            assert foreign.status_code in (400, 403)
