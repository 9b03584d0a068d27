"""CloudBrain's image, built and run in a real Docker engine.

Where no engine answers, this module starts one: Debian's dockerd (package docker.io,
installed with apt-get when it is missing), in the background with its log in
/var/log/cloudbrain-dockerd.log, and leaves it running for the next run. Where none can start
(not root, no apt-get, dockerd dies) the module skips, saying why, unless
CLOUDBRAIN_REQUIRE_SERVICES=1, where that is a failure.

No image registry is needed: the base image is made from Debian's packages by
docker/base-image.sh (a few minutes, the first time; its progress is shown), then reused while
the engine has its tag. The image is built with README's `docker build` command and run with
README's `docker run` command, so the documentation and what works cannot drift apart.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from cloudbrain.agent.client import Client
from cloudbrain.tls import Trust
from tests.browser import ARGS, ensure_chromium
from tests.services import debian_package, free_port, service_missing

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
BASE_SCRIPT = DOCKER / "base-image.sh"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "jetson.Dockerfile"]
README = ROOT / "README.md"
DOCKERD_LOG = Path("/var/log/cloudbrain-dockerd.log")
# Debian's default; its own folder, so the engine started here keeps its images between runs.
DATA_ROOT = "/var/lib/docker"
ARTIFACTS = ROOT / "tests" / "artifacts"
# The tests' own tag, so a person's `cloudbrain` image is never replaced.
IMAGE = "cloudbrain:test"
# Certificates this machine adds to Debian's (update-ca-certificates' local folder): a proxy
# that inspects TLS on the way to PyPI needs its CA trusted in the build.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
# The runtime image's budget: the base (~125 MB) and the server's dependencies (~340 MB, most
# of it onnxruntime, numpy and the embedding model). More means something crept in.
SIZE_BUDGET = 550_000_000
STARTED = time.monotonic()


# --- output -----------------------------------------------------------------------------------


def say(config: pytest.Config, line: str) -> None:
    """A line on the terminal even while pytest captures output: progress of the slow steps."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    # Under fd capture the terminal's own file descriptor is redirected too.
    with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
        reporter.write_line(f"[container {time.monotonic() - STARTED:5.0f}s] {line}")


def streamed(
    config: pytest.Config, argv: list[str], log: Path, shown: Callable[[str], bool]
) -> tuple[int, str]:
    """Runs ``argv``, writing its output to ``log`` and the lines ``shown`` picks to the
    terminal; its exit status and output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            lines.append(line)
            if shown(line):
                say(config, line.rstrip()[:120])
        status = process.wait()
    return status, "".join(lines)


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


# --- the engine -------------------------------------------------------------------------------


def engine_version() -> str | None:
    """The version of the engine the docker command talks to, or None when none answers."""
    if shutil.which("docker") is None:
        return None
    try:
        done = docker("version", "--format", "{{.Server.Version}}", timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and version else None


def start_engine(config: pytest.Config) -> str:
    """The engine's version; dockerd started first when none answers."""
    version = engine_version()
    if version is not None:
        return version
    how = "start a Docker engine (sudo dockerd &), or run the tests as root"
    if os.geteuid() != 0:
        service_missing("A Docker engine", "none answers, and only root can start dockerd", how)
    debian_package(
        "docker.io",
        lambda: shutil.which("dockerd") if shutil.which("docker") else None,
        "Docker's engine (dockerd, from Debian's docker.io),",
    )
    say(config, f"no engine answers: starting dockerd (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        # setsid --fork: dockerd is nobody's child here, so it outlives this run as meant.
        subprocess.run(
            ["setsid", "--fork", "dockerd", "--data-root", DATA_ROOT],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=30,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        version = engine_version()
        if version is not None:
            say(config, f"dockerd {version} answers")
            return version
        time.sleep(0.5)
    tail = DOCKERD_LOG.read_text(errors="replace")[-1500:]
    service_missing("A Docker engine", f"dockerd did not answer within 60 s; its log ends:\n{tail}")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def engine(pytestconfig: pytest.Config) -> str:
    return start_engine(pytestconfig)


# --- the images -------------------------------------------------------------------------------


def base_tag() -> str:
    done = subprocess.run(
        [str(BASE_SCRIPT), "--tag"], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()


def default_base(dockerfile: Path) -> str:
    found = re.search(r"^ARG BASE=(\S+)$", dockerfile.read_text(), re.M)
    assert found, f"{dockerfile.name} has no `ARG BASE=` default"
    return found.group(1)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_images_build_from_the_base_the_script_makes(dockerfile: Path) -> None:
    """A changed docker/base-image.sh is a new tag: the Dockerfiles must name it."""
    assert default_base(dockerfile) == base_tag()
    # Every stage starts from it, or from a stage that does.
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", dockerfile.read_text(), re.M)
    names: list[str] = []
    for base, name in stages:
        assert base in ["${BASE}", *names], f"FROM {base}"
        names.append(name)


def test_the_images_install_what_pyproject_asks_for() -> None:
    """docker/requirements.py reads the extras as pip would: the dependencies' layer has all
    that `pip install '.[server]'` installs, and nothing else."""
    script = DOCKER / "requirements.py"
    for extra in ("server", "agent"):
        done = subprocess.run(
            [sys.executable, str(script), extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        printed = {line.replace(" ", "") for line in done.stdout.splitlines()}
        wanted = {"", extra} | ({"agent"} if extra == "server" else set())
        metadata = set()
        for requirement in importlib.metadata.requires("cloudbrain") or []:
            spec, _, marker = requirement.partition(";")
            which = re.search(r"extra\s*==\s*\"(\w+)\"", marker)
            if (which.group(1) if which else "") in wanted and not spec.startswith("cloudbrain"):
                metadata.add(spec.replace(" ", ""))
        assert printed == metadata, extra


@pytest.fixture(scope="module")
def base_image(engine: str, pytestconfig: pytest.Config) -> str:
    """The base image: the engine's, or made now from Debian's packages."""
    tag = base_tag()
    if docker("image", "inspect", tag).returncode == 0:
        say(pytestconfig, f"base image {tag}: reused")
        return tag
    debian_package(
        "debootstrap",
        lambda: shutil.which("debootstrap"),
        "debootstrap, which makes the base image from Debian's packages,",
    )
    say(pytestconfig, f"base image {tag}: building it from Debian's packages (a few minutes)")
    log = ARTIFACTS / "base-image.log"
    status, output = streamed(
        pytestconfig, [str(BASE_SCRIPT)], log, lambda line: line.startswith("base-image:")
    )
    assert status == 0, f"docker/base-image.sh failed (log: {log}):\n{output[-3000:]}"
    return tag


def documented(command: str) -> list[str]:
    """README's one line that starts with ``command`` (in a code block), as words."""
    found = [line for line in README.read_text().splitlines() if line.startswith(f"{command} ")]
    assert len(found) == 1, f"README should show one line of `{command} ...`: {found}"
    return shlex.split(found[0], comments=True)


@dataclass
class Built:
    tag: str
    seconds: float
    size: int


@pytest.fixture(scope="module")
def image(base_image: str, pytestconfig: pytest.Config) -> Built:
    """README's `docker build`, tagged for the tests (layers cached by the engine)."""
    words = documented("docker build")
    assert words[-1] == ".", "README builds from the repository root"
    tagged = words.index("-t") + 1
    words[tagged] = IMAGE
    # A failed step's container is removed too, so failed runs leave nothing behind.
    words[2:2] = ["--force-rm"]
    extra_cas = "".join(p.read_text() for p in sorted(LOCAL_CAS.glob("*.crt")))
    if extra_cas:
        words[2:2] = ["--build-arg", f"EXTRA_CA_CERTS={extra_cas}"]
    say(pytestconfig, f"building {IMAGE} on {base_image} with README's `docker build`")
    started = time.monotonic()
    log = ARTIFACTS / "image-build.log"
    status, output = streamed(
        pytestconfig,
        words,
        log,
        lambda line: re.match(r"Step \d+/\d+ : (RUN|FROM)", line) is not None,
    )
    seconds = time.monotonic() - started
    assert status == 0, f"docker build failed (log: {log}):\n{output[-3000:]}"
    size = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    say(pytestconfig, f"{IMAGE} built in {seconds:.0f} s, {size / 1e6:.0f} MB")
    return Built(IMAGE, seconds, size)


def test_the_image_runs_python_311_with_no_pip_setuptools_or_wheel(image: Built) -> None:
    probe = (
        "import importlib.util, sys; "
        "print(sys.version_info[:2], [m for m in ('pip', 'setuptools', 'wheel') "
        "if importlib.util.find_spec(m)])"
    )
    done = docker("run", "--rm", "--entrypoint", "python", image.tag, "-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 11) []"
    assert image.size < SIZE_BUDGET, f"{image.size / 1e6:.0f} MB"


# --- README's `docker run` --------------------------------------------------------------------


@dataclass
class Running:
    name: str
    ws_port: int
    http_port: int
    ca: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def logs(self) -> str:
        done = docker("logs", self.name)
        return done.stdout + done.stderr

    def state(self) -> dict[str, Any]:
        done = docker("inspect", "--format", "{{json .State}}", self.name)
        assert done.returncode == 0, done.stderr
        state: dict[str, Any] = json.loads(done.stdout)
        return state


def readme_runs() -> list[list[str]]:
    """README's `docker run` lines, as words, in order."""
    return [
        shlex.split(line, comments=True)
        for line in README.read_text().splitlines()
        if line.startswith("docker run ")
    ]


def readme_server() -> list[str]:
    """README's `docker run` of the server: the one that keeps running (no --rm)."""
    servers = [words for words in readme_runs() if "--rm" not in words]
    assert len(servers) == 1, f"README should run one server: {servers}"
    return servers[0]


VALUED = {"-p", "-v", "-e", "--entrypoint", "--name"}


def as_this_run(words: list[str], volume: str, ports: dict[int, int]) -> list[str]:
    """A README `docker run`, as written but for what must be this run's own: the ports on
    this machine (free ones, noted in ``ports``: container port -> port here), the volume's
    name and the image's tag."""
    assert words[:2] == ["docker", "run"], words
    out = ["docker", "run"]
    rest = words[2:]
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag not in VALUED:
            assert flag == "--rm", f"README's docker run has {flag}, which this test does not know"
            out.append(flag)
            continue
        value = rest.pop(0)
        if flag == "-p":
            address, _, inside = value.split(":")
            ports[int(inside)] = free_port()
            value = f"{address}:{ports[int(inside)]}:{inside}"
        elif flag == "-v":
            value = f"{volume}:{value.split(':', 1)[1]}"
        out += [flag, value]
    assert rest[:1] == ["cloudbrain"], f"README runs another image: {rest}"
    return [*out, IMAGE, *rest[1:]]


def test_readme_publishes_the_server_on_this_machine_only() -> None:
    words = readme_server()
    published = [words[i + 1] for i, w in enumerate(words) if w == "-p"]
    assert published, "README's docker run publishes nothing"
    for spec in published:
        assert spec.startswith("127.0.0.1:"), f"{spec} is published on every address"


def create_agent(name: str, agent: str) -> str:
    done = docker("exec", name, "cloudbrain", "agent", "create", agent, "--json", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    token = json.loads(done.stdout)["token"]
    assert isinstance(token, str)
    return token


@pytest.fixture(scope="module")
def container(
    image: Built, pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """README's server, after README's steps before it (its certificate), healthy by its own
    HEALTHCHECK; README's way out for the CA; agents alice and bob."""
    name = f"cloudbrain-test-{uuid.uuid4().hex[:8]}"
    volume = f"{name}-data"
    ca = tmp_path_factory.mktemp("container") / "ca.pem"
    ports: dict[int, int] = {}
    server = readme_server()
    try:
        for words in readme_runs():
            if words == server:
                argv = as_this_run(words, volume, ports)
                argv[2:2] = ["--detach", "--name", name]
                done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, done.stderr
            elif ">" not in words:  # a step before: `tls init`
                done = subprocess.run(
                    as_this_run(words, volume, ports), capture_output=True, text=True, timeout=120
                )
                assert done.returncode == 0, f"{shlex.join(words)}:\n{done.stdout}{done.stderr}"
        assert set(ports) == {8766, 8767}, f"README publishes {sorted(ports)}"
        running = Running(name, ports[8766], ports[8767], ca)
        started = time.monotonic()
        deadline = started + 120
        while True:
            state = running.state()
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                break
            assert state["Status"] == "running", f"the container stopped:\n{running.logs()}"
            assert health != "unhealthy", f"unhealthy: {state['Health']}\n{running.logs()}"
            assert time.monotonic() < deadline, f"not healthy after 120 s:\n{running.logs()}"
            time.sleep(1)
        say(pytestconfig, f"README's docker run: healthy in {time.monotonic() - started:.0f} s")
        [take_ca] = [words for words in readme_runs() if ">" in words]
        argv = as_this_run(take_ca[: take_ca.index(">")], volume, ports)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "BEGIN CERTIFICATE" in done.stdout, done.stderr
        ca.write_text(done.stdout)
        running.tokens = {agent: create_agent(name, agent) for agent in ("alice", "bob")}
        yield running
    finally:
        docker("rm", "--force", name)
        docker("volume", "rm", volume)


def test_the_log_names_the_addresses_the_server_is_bound_to(container: Running) -> None:
    """Inside a container 127.0.0.1 is the container's own: the log says what is bound."""
    logs = container.logs()
    assert "listening on 0.0.0.0:8766 " in logs, logs
    assert "web view, listening on 0.0.0.0:8767; " in logs, logs


async def test_an_agent_on_this_machine_talks_through_the_published_port(
    container: Running,
) -> None:
    """Over wss://, the server's certificate checked against the CA README takes out."""
    url = f"wss://127.0.0.1:{container.ws_port}"
    tokens, trust = container.tokens, Trust(ca_file=str(container.ca))
    async with (
        Client(url, "alice", tokens["alice"], trust=trust) as alice,
        Client(url, "bob", tokens["bob"], trust=trust) as bob,
    ):
        receipt = await alice.send("bob", "hello from outside the container")
        message = await bob.receive(10)
        bob.ack(message)
        assert (message.id, message.sender) == (receipt.re, "alice")
        assert message.body == "hello from outside the container"
        # And back: bob's answer reaches alice on the same port.
        await bob.reply(message, "hello back")
        answer = await alice.receive(10)
        assert (answer.sender, answer.body) == ("bob", "hello back")


def https(
    container: Running, path: str, data: bytes | None = None, token: str = ""
) -> tuple[int, str]:
    """A request to the web view, its certificate checked against the CA."""
    headers = {"Content-Type": "application/json"} if data else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"https://127.0.0.1:{container.http_port}{path}"
    context = ssl.create_default_context(cafile=str(container.ca))
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_reads_and_writes_from_outside_need_a_token(container: Running) -> None:
    """From the container's point of view, this machine is another one: no tokenless reads."""
    assert https(container, "/api/presence")[0] == 401
    assert https(container, "/api/presence", token=container.tokens["alice"])[0] == 200
    status, body = https(container, "/api/follows", json.dumps({"agent": "bob"}).encode())
    assert status == 401, body


async def test_a_browser_on_this_machine_logs_in_to_the_web_view(container: Running) -> None:
    """The page a person opens sends them to the login form; a token lets them in. (The
    browser is told to take the private CA's certificate: it does not know the CA, and the
    tests above check the certificate.)"""
    executable = ensure_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=ARGS
        )
        page = await browser.new_page(ignore_https_errors=True)
        try:
            await page.goto(f"https://127.0.0.1:{container.http_port}/")
            assert "/login" in page.url, page.url
            await page.fill('input[name="agent"]', "alice")
            await page.fill('input[name="token"]', container.tokens["alice"])
            async with page.expect_navigation():
                await page.click('button[type="submit"]')
            assert "/login" not in page.url, await page.content()
            for agent in container.tokens:
                assert await page.locator(f'[data-agent="{agent}"]').count() >= 1, agent
        except BaseException:
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "container-web-view.png"), full_page=True)
            raise
        finally:
            await browser.close()
