"""The container images and docker/compose.yaml, checked without a Docker engine.

Compose validates the compose file (`docker compose config`, or Debian's `docker-compose`
1.29, installed with apt-get when neither is there; a machine that cannot install it skips,
unless CLOUDBRAIN_REQUIRE_SERVICES=1). Every command the images and services run is checked
against the real command line: `cloudbrain ... --help` lists its flags, and the parser takes
the whole command. The image's healthcheck is run against a real server.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer

from cloudbrain.cli import app
from tests.services import REQUIRE_SERVICES, ServerProcess, debian_package, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
SERVER_IMAGE = DOCKER / "Dockerfile"
JETSON_IMAGE = DOCKER / "jetson.Dockerfile"
DOCKERFILES = [SERVER_IMAGE, JETSON_IMAGE]
CLUSTER = {"postgres", "redis", "ollama", "node1", "node2", "lb", "laptop-agent"}
# Wide, plain help, so flags are neither wrapped nor coloured.
HELP_ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


# --- Compose ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compose:
    argv: tuple[str, ...]  # ("docker", "compose") or ("docker-compose",)

    @property
    def v2(self) -> bool:
        return self.argv == ("docker", "compose")


def _answers(argv: Sequence[str]) -> bool:
    if shutil.which(argv[0]) is None:
        return False
    try:
        done = subprocess.run([*argv, "version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _find_compose() -> Compose | None:
    for argv in (("docker", "compose"), ("docker-compose",)):
        if _answers(argv):
            return Compose(argv)
    return None


def ensure_compose() -> Compose:
    """A Compose that can run `config`, Debian's docker-compose installed now if none is."""
    return debian_package(
        "docker-compose", _find_compose, f"Compose, to validate {COMPOSE_FILE.name},"
    )


def compose_env() -> dict[str, str]:
    """This environment without the variables the compose file reads (nor COMPOSE_*), so
    `config` shows what the file does with none of them set."""
    used = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    return {k: v for k, v in os.environ.items() if k not in used and not k.startswith("COMPOSE_")}


YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"


def _pythons_with_yaml() -> Iterator[list[str]]:
    """Pythons that may have PyYAML: ours, then the one docker-compose 1.x runs on (it needs
    PyYAML itself). CloudBrain does not depend on PyYAML."""
    yield [sys.executable]
    script = shutil.which("docker-compose")
    if script is not None:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
        if first.startswith("#!") and "python" in first:
            yield shlex.split(first[2:])


def read_yaml(text: str) -> Any:
    for python in _pythons_with_yaml():
        done = subprocess.run(
            [*python, "-c", YAML_TO_JSON], input=text, capture_output=True, text=True, timeout=60
        )
        if done.returncode == 0:
            return json.loads(done.stdout)
    message = "no Python with PyYAML to read docker-compose's YAML output"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and CLOUDBRAIN_REQUIRE_SERVICES=1 requires one")
    pytest.skip(f"{message}; the docker compose plugin (config --format json) needs none")


def resolved_config(
    compose: Compose, profiles: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`config`'s resolved compose file, as data, with ``env`` set on top of nothing the file
    reads; fails on anything `config` rejects."""
    argv = [*compose.argv, "-f", str(COMPOSE_FILE)]
    for profile in profiles:
        argv += ["--profile", profile]
    argv += ["config", "--format", "json"] if compose.v2 else ["config"]
    done = subprocess.run(
        argv,
        env={**compose_env(), **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{done.stderr}"
    # A `${VAR}` without a default: compose warns and leaves it blank.
    assert "variable is not set" not in done.stderr, done.stderr
    data = json.loads(done.stdout) if compose.v2 else read_yaml(done.stdout)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose() -> Compose:
    return ensure_compose()


@pytest.fixture(scope="module")
def config(compose: Compose) -> dict[str, Any]:
    return resolved_config(compose)


@pytest.fixture(scope="module")
def jetson_config(compose: Compose) -> dict[str, Any]:
    return resolved_config(compose, ["jetson"])


def active(config: Mapping[str, Any], profiles: set[str]) -> dict[str, Any]:
    """The services `up` starts with these profiles. (docker-compose 1.x's `config` lists
    every service, each with its profiles; the plugin's lists only the active ones.)"""
    services: dict[str, Any] = config["services"]
    return {
        name: service
        for name, service in services.items()
        if not service.get("profiles") or set(service["profiles"]) & profiles
    }


def command_of(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


def env_of(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_of(service: Mapping[str, Any]) -> dict[str, str]:
    """Each service this one waits for, and for what (service_started, service_healthy)."""
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: (how or {}).get("condition", "service_started") for name, how in depends.items()}


def published_targets(service: Mapping[str, Any]) -> set[int]:
    targets = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            targets.add(int(port["target"]))
        else:  # "0.0.0.0:8766:8766/tcp"
            targets.add(int(str(port).split("/")[0].rsplit(":", 1)[-1]))
    return targets


def published_addresses(service: Mapping[str, Any]) -> set[str]:
    """The host addresses a service's ports are published on ("" for every address)."""
    found = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            found.add(str(port.get("host_ip", "")))
        else:  # "127.0.0.1:8766:8766/tcp", "8766:8766"
            parts = str(port).split("/")[0].rsplit(":", 2)
            found.add(parts[0] if len(parts) == 3 else "")
    return found


def mounts_of(service: Mapping[str, Any]) -> dict[str, str]:
    """Target in the container -> source."""
    found = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            found[volume["target"]] = str(volume.get("source", ""))
        else:
            source, target = str(volume).split(":")[:2]
            found[target] = source
    return found


def on_our_image(service: Mapping[str, Any]) -> bool:
    build = service.get("build") or {}
    dockerfile = build.get("dockerfile", "") if isinstance(build, dict) else ""
    return Path(dockerfile).name in {p.name for p in DOCKERFILES}


def is_server(service: Mapping[str, Any]) -> bool:
    return on_our_image(service) and command_of(service)[:1] == ["server"]


def option(words: Sequence[str], flag: str) -> str | None:
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


# --- the real command line -------------------------------------------------------------------


def subcommands(command: Any) -> dict[str, Any] | None:
    """A group's commands by name; None for a command. (Typer's own click or the click
    package, depending on Typer's version: neither is named here.)"""
    found = getattr(command, "commands", None)
    return found if isinstance(found, dict) else None


def check_cli(words: Sequence[str], where: str) -> None:
    """`cloudbrain WORDS` is a real command: its leading words name a command (not a group),
    `--help` for it works and lists every flag used, and the parser takes the whole line."""
    assert words, f"{where}: no command"
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(words)
    while (group := subcommands(command)) is not None and rest and rest[0] in group:
        path.append(rest.pop(0))
        command = group[path[-1]]
    assert path, f"{where}: {words[0]!r} is not a cloudbrain command"
    assert subcommands(command) is None, (
        f"{where}: `cloudbrain {' '.join(path)}` needs one of its commands, not {rest[:1]}"
    )
    shown = subprocess.run(
        [sys.executable, "-m", "cloudbrain", *path, "--help"],
        env=HELP_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, f"{where}: cloudbrain {' '.join(path)} --help: {shown.stderr}"
    for word in rest:
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", shown.stdout), (
                f"{where}: `cloudbrain {' '.join(path)}` has no {flag}:\n{shown.stdout}"
            )
    # The parser, without running the command: unknown options, missing or extra arguments
    # and values of the wrong type are usage errors.
    try:
        command.make_context(f"cloudbrain {' '.join(path)}", list(rest)).close()
    except Exception as exc:
        pytest.fail(f"{where}: cloudbrain {shlex.join(words)}: {type(exc).__name__}: {exc}")


def test_the_command_check_catches_what_the_cli_does_not_have() -> None:
    check_cli(["agent", "run", "laptop", "--device", "laptop", "--brain", "auto"], "ok")
    for wrong in (
        ["serve"],  # no such command
        ["agent"],  # a group, not a command
        ["server", "--nodes", "n1"],  # no such flag
        ["agent", "create", "--skill", "python"],  # the name is missing
        ["agent", "run", "a", "b"],  # one name too many
        ["agent", "run", "a", "--gpu-memory", "lots"],  # not a number
    ):
        with pytest.raises((AssertionError, pytest.fail.Exception)):
            check_cli(wrong, "wrong")


# --- Dockerfiles -----------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    found = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue  # comments (and parser directives), also inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical = (current + line).strip()
        current = ""
        keyword, _, arguments = logical.partition(" ")
        found.append((keyword.upper(), arguments.strip()))
    assert not current, f"{path.name} ends inside an instruction"
    return found


def final_stage(path: Path) -> list[tuple[str, str]]:
    found = instructions(path)
    last_from = max(i for i, (keyword, _) in enumerate(found) if keyword == "FROM")
    return found[last_from:]


def exec_form(path: Path, keyword: str) -> list[str]:
    """The last ENTRYPOINT or CMD of the image, which must be a JSON array (exec form: the
    command gets signals itself, with no shell in between)."""
    given = [arguments for k, arguments in final_stage(path) if k == keyword]
    assert given, f"{path.name} has no {keyword}"
    words = json.loads(given[-1])
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), given[-1]
    return words


def env_vars(path: Path) -> dict[str, str]:
    found = {}
    for keyword, arguments in final_stage(path):
        if keyword == "ENV":
            for token in shlex.split(arguments):
                key, _, value = token.partition("=")
                found[key] = value
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_images_run_a_real_cloudbrain_command(dockerfile: Path) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert exec_form(dockerfile, "ENTRYPOINT") == ["cloudbrain"]
    assert "cloudbrain" in scripts
    check_cli(exec_form(dockerfile, "CMD"), f"{dockerfile.name} CMD")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_images_run_as_a_user_of_their_own_with_data_in_a_volume(dockerfile: Path) -> None:
    stage = final_stage(dockerfile)
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    assert users, f"{dockerfile.name} runs as root: no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"{dockerfile.name} runs as {users[-1]}"
    runs = " ".join(arguments for keyword, arguments in stage if keyword == "RUN")
    assert re.search(rf"useradd [^&;]*--uid {user}\b", runs), f"no user with uid {user}"
    assert env_vars(dockerfile)["CLOUDBRAIN_HOME"] == "/data"
    assert re.search(r"chown [^&;]*\s/data\b", runs), "the user cannot write /data"
    volumes = [a for keyword, a in stage if keyword == "VOLUME"]
    assert any("/data" in json.loads(a) for a in volumes), f"{dockerfile.name}: no /data volume"


def test_the_server_image_listens_on_every_address_and_checks_its_health() -> None:
    stage = final_stage(SERVER_IMAGE)
    # 127.0.0.1, the server's default, would be unreachable from outside the container.
    assert env_vars(SERVER_IMAGE)["CLOUDBRAIN_HOST"] == "0.0.0.0"
    exposed = {int(p) for k, a in stage if k == "EXPOSE" for p in a.split()}
    assert exposed == {8766, 8767, 8025}
    checks = [a for k, a in stage if k == "HEALTHCHECK"]
    assert checks, "no HEALTHCHECK"
    copied = {a.split()[-1]: a.split()[-2] for k, a in stage if k == "COPY" and "--from" not in a}
    script = next(dest for dest, source in copied.items() if source == "docker/healthcheck.py")
    assert script in checks[-1]


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression: `**` any folders, `*` and `?` within
    one name; matching a folder matches what is in it."""
    out = ""
    for part in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
        if part.startswith("**"):
            out += "(?:.*/)?" if part.endswith("/") else ".*"
        elif part == "*":
            out += "[^/]*"
        elif part == "?":
            out += "[^/]"
        else:
            out += re.escape(part)
    return re.compile(rf"{out}(?:/.*)?")


def ignored(path: str, patterns: Sequence[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern that matches
    it decides; `!` brings back."""
    left_out = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        if dockerignore_regex(pattern.removeprefix("!")).fullmatch(path):
            left_out = not keep
    return left_out


def test_the_dockerignore_check_follows_dockers_rules() -> None:
    patterns = ["*", "!src", "!docker/tool.py", "**/__pycache__"]
    assert ignored(".git", patterns) and ignored("docker/other.py", patterns)
    assert not ignored("src/a/b.py", patterns) and not ignored("docker/tool.py", patterns)
    assert ignored("src/a/__pycache__/b.pyc", patterns)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_images_get_every_source_of_the_package_and_nothing_else(dockerfile: Path) -> None:
    """What the build copies is in the context the .dockerignore of the repository root leaves
    (the context is the root; the classic builder reads no `<Dockerfile>.dockerignore`, so
    there must be none, or BuildKit would read another list), and it is the whole package: a
    new subpackage in pyproject.toml needs a COPY here."""
    assert not dockerfile.with_name(dockerfile.name + ".dockerignore").exists()
    ignore = ROOT / ".dockerignore"
    patterns = [
        line.strip()
        for line in ignore.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = set()
    for keyword, arguments in instructions(dockerfile):
        if keyword == "COPY" and "--from" not in arguments:
            copied.update(arguments.split()[:-1])
    for source in copied:
        assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which is missing"
        assert not ignored(source, patterns), f"{ignore.name} leaves {source} out"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= set(project["tool"]["setuptools"]["package-dir"].values())
    assert needed <= copied, f"{dockerfile.name} does not copy {needed - copied}"
    for private in (".git", ".venv", ".env", "docker/.env", "tests/artifacts", "bench/results"):
        assert ignored(private, patterns), f"{ignore.name} lets {private} in"
    assert ignored("cloudbrain/__pycache__/settings.cpython-311.pyc", patterns)


# --- docker/compose.yaml ---------------------------------------------------------------------


def test_compose_has_the_cluster_and_the_jetson_only_in_its_profile(
    config: dict[str, Any], jetson_config: dict[str, Any]
) -> None:
    services = active(config, set())
    assert set(services) >= CLUSTER
    assert "jetson-agent" not in services
    with_jetson = active(jetson_config, {"jetson"})
    assert set(with_jetson) == set(services) | {"jetson-agent"}
    assert Path(with_jetson["jetson-agent"]["build"]["dockerfile"]).name == JETSON_IMAGE.name


def test_the_nodes_are_one_cluster_on_shared_postgres_and_redis(config: dict[str, Any]) -> None:
    services = active(config, set())
    nodes = {name: s for name, s in services.items() if is_server(s)}
    assert set(nodes) == {"node1", "node2"}
    names = [
        option(command_of(s), "--node") or env_of(s).get("CLOUDBRAIN_NODE") for s in nodes.values()
    ]
    assert None not in names and len(set(names)) == len(names), f"node names: {names}"
    postgres = env_of(services["postgres"])
    database = (
        f"postgresql+asyncpg://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    for name, node in nodes.items():
        env = env_of(node)
        assert env["CLOUDBRAIN_DATABASE_URL"] == database, name
        assert env["CLOUDBRAIN_REDIS_URL"] == "redis://redis:6379/0", name
        assert env["CLOUDBRAIN_HOST"] == "0.0.0.0", name
        # On every address without a certificate, a server refuses to start unless told.
        assert env.get("CLOUDBRAIN_TLS_CERT") or env.get("CLOUDBRAIN_ALLOW_PLAINTEXT") == "true"
        # lb reaches the nodes from its own address, not the node's loopback.
        assert env["CLOUDBRAIN_HTTP_READS"] == "anyone", name
        assert depends_of(node) == {"postgres": "service_healthy", "redis": "service_healthy"}
        assert mounts_of(node)["/data"] == f"{name}-data", "each node keeps its own /data"
        assert Path(node["build"]["context"]).resolve() == ROOT
        assert node["image"] == "cloudbrain:latest"


def node_healthcheck_code(node: Mapping[str, Any]) -> str:
    test = node["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    code = str(test[3])
    http_port = env_of(node).get("CLOUDBRAIN_HTTP_PORT") or "8767"
    assert f"http://127.0.0.1:{http_port}/healthz" in code
    return code


def test_every_service_is_checked_for_health_or_waits_for_healthy_ones(
    jetson_config: dict[str, Any],
) -> None:
    services = active(jetson_config, {"jetson"})
    nodes = {name for name, s in services.items() if is_server(s)}
    for name, service in services.items():
        for dependency, condition in depends_of(service).items():
            assert dependency in services, f"{name} depends on {dependency}, which is not there"
            if condition == "service_healthy":
                check = services[dependency].get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"
                )
        if name in nodes:
            node_healthcheck_code(service)
        elif on_our_image(service) or name == "lb":
            # Agents and the load balancer start once the servers they use serve.
            waits = {d for d, c in depends_of(service).items() if c == "service_healthy"}
            assert nodes <= waits, f"{name} does not wait for healthy nodes: {waits}"


def test_compose_commands_are_real_cli_commands(jetson_config: dict[str, Any]) -> None:
    ours = {n: s for n, s in active(jetson_config, {"jetson"}).items() if on_our_image(s)}
    assert set(ours) == {"node1", "node2", "laptop-agent", "jetson-agent"}
    for name, service in ours.items():
        check_cli(command_of(service), f"compose service {name}")
    for name in ("laptop-agent", "jetson-agent"):
        service = ours[name]
        urls = env_of(service)["CLOUDBRAIN_URL"].split(",")
        assert urls == ["ws://node1:8766", "ws://node2:8766"], name
        assert "CLOUDBRAIN_TOKEN" in env_of(service), f"{name} gets no token"
        assert mounts_of(service)["/data"] == f"{name.removesuffix('-agent')}-data"
    assert option(command_of(ours["laptop-agent"]), "--ollama-url") == "http://ollama:11434"


def test_the_commands_compose_yaml_documents_are_real() -> None:
    """The comments tell how to make an agent's identity: `docker compose ... run --rm
    SERVICE COMMAND`, in a service that has the database."""
    text = COMPOSE_FILE.read_text()
    documented = re.findall(
        r"^#.*\bdocker compose\b.* run --rm (?:--no-deps )?(\S+) (.+)$", text, re.M
    )
    assert documented, "compose.yaml no longer says how to create an agent"
    for service, words in documented:
        check_cli(shlex.split(words), f"compose.yaml comment: {words}")
        assert service in {"node1", "node2"}, f"{service} has no CLOUDBRAIN_DATABASE_URL"


def test_the_load_balancer_fronts_every_node_on_every_port(config: dict[str, Any]) -> None:
    services = active(config, set())
    lb = services["lb"]
    assert published_targets(lb) == {8766, 8767, 8025}
    assert Path(mounts_of(lb)["/etc/nginx/nginx.conf"]).resolve() == DOCKER / "nginx.conf"
    nginx = (DOCKER / "nginx.conf").read_text()
    nodes = [name for name, s in services.items() if is_server(s)]
    for node in nodes:
        for port in (8766, 8767, 8025):
            assert re.search(rf"^\s*server {node}:{port}\b", nginx, re.M), f"{node}:{port}"
    for needed in ("listen 8766;", "listen 8767;", "listen 8025;", "proxy_http_version 1.1;"):
        assert needed in nginx
    assert re.search(r"proxy_set_header Upgrade \$http_upgrade;", nginx)
    assert re.search(r"proxy_set_header Connection \$connection_upgrade;", nginx)
    assert re.search(r"proxy_read_timeout (\d+)s;", nginx)
    # Nothing else is published: PostgreSQL, Redis and Ollama stay on the compose network.
    assert [n for n, s in services.items() if s.get("ports")] == ["lb"]


# --- the healthcheck, against a real server --------------------------------------------------


def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docker_healthcheck", DOCKER / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Serving:
    server: ServerProcess
    http_port: int


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """A real server on SQLite, its web view on a free port, reads open to loopback only (the
    default, as in the image)."""
    home = tmp_path_factory.mktemp("docker-health")
    http_port = free_port()
    server = ServerProcess(
        home,
        f"sqlite+aiosqlite:///{home / 'cloudbrain.db'}",
        extra_env={"CLOUDBRAIN_HTTP_PORT": str(http_port), "CLOUDBRAIN_SMTP": "false"},
    )
    with server:
        wait_for_port(http_port)
        yield Serving(server, http_port)


def test_the_image_healthcheck_finds_the_server_and_asks_its_web_view(
    serving: Serving, tmp_path: Path
) -> None:
    health = healthcheck()
    cmdline = Path(f"/proc/{serving.server.pid}/cmdline").read_bytes().split(b"\0")[:-1]
    args = health.cloudbrain_args([w.decode() for w in cmdline])
    assert args[:1] == ["server"], cmdline
    assert health.probe(args, serving.server.env) is None
    # The web view elsewhere, or off and the WebSocket port closed: unhealthy, saying why.
    assert "/healthz" in health.probe([*args, "--http-port", str(free_port())], {})
    assert health.probe([*args, "--no-http", "--port", str(free_port())], {}) is not None
    assert health.probe([*args, "--no-http"], serving.server.env) is None
    # What runs in the container: an agent passes, a server is probed, nothing at all fails.
    proc = tmp_path / "proc"

    def running(*commands: list[str]) -> None:
        shutil.rmtree(proc, ignore_errors=True)
        for pid, argv in enumerate(commands, start=1):
            (proc / str(pid)).mkdir(parents=True)
            (proc / str(pid) / "cmdline").write_bytes(b"".join(w.encode() + b"\0" for w in argv))

    python, script = "/opt/cloudbrain/bin/python", "/opt/cloudbrain/bin/cloudbrain"
    running([python, script, "agent", "run", "laptop"])
    assert health.main(proc, {}) == 0
    running(["/sbin/tini", "--", python, script, "server"], [python, script, "server"])
    assert health.main(proc, {"CLOUDBRAIN_HTTP_PORT": str(serving.http_port)}) == 0
    assert health.main(proc, {"CLOUDBRAIN_HTTP_PORT": str(free_port())}) == 1
    running(["sleep", "infinity"])
    assert health.main(proc, {}) == 1


@contextmanager
def answering(status: int) -> Iterator[int]:
    """A web server on a free port that answers every GET with ``status``; yields the port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_image_healthcheck_takes_only_a_200_as_up() -> None:
    health = healthcheck()
    for status, healthy in ((200, True), (401, False), (404, False), (500, False)):
        with answering(status) as port:
            reason = health.probe(["server", "--http-port", str(port)], {})
        assert (reason is None) == healthy, (status, reason)


def test_the_nodes_healthcheck_passes_a_serving_server(
    config: dict[str, Any], serving: Serving
) -> None:
    code = node_healthcheck_code(active(config, set())["node1"])
    here = code.replace(":8767/", f":{serving.http_port}/")
    done = subprocess.run([sys.executable, "-c", here], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    elsewhere = code.replace(":8767/", f":{free_port()}/")
    done = subprocess.run(
        [sys.executable, "-c", elsewhere], capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0, "the healthcheck passed with nothing listening"


# Pulled images, pinned: a version number in the tag (not `latest`, `alpine` or a bare major),
# or a digest. Images built here are named by their build and are not pulled.
PINNED = re.compile(r"^[\w./-]+(:[\w.-]*\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def test_every_image_compose_pulls_is_pinned(jetson_config: dict[str, Any]) -> None:
    for name, service in active(jetson_config, {"jetson"}).items():
        if service.get("build"):
            continue
        image = str(service["image"])
        assert PINNED.match(image) and (":" in image or "@" in image), f"{name}: {image}"
        assert not re.search(r":(\d+-)?(latest|alpine|slim)?$", image.split("@")[0]), image


def test_the_dockerfiles_name_no_unpinned_image() -> None:
    for dockerfile in DOCKERFILES:
        stages: list[str] = []
        for keyword, arguments in instructions(dockerfile):
            if keyword == "FROM":
                # Every stage starts from ARG BASE, whose default is the local base's tag
                # (tests/test_container.py checks it against docker/base-image.sh), or from
                # a stage before it.
                words = arguments.split()
                assert words[0] in ["${BASE}", *stages], f"{dockerfile.name}: FROM {arguments}"
                stages += words[2:3] if words[1:2] == ["AS"] else []


def test_compose_publishes_on_this_machine_only_unless_told(config: dict[str, Any]) -> None:
    services = active(config, set())
    assert published_addresses(services["lb"]) == {"127.0.0.1"}


def lan_setting() -> dict[str, str]:
    """The variables compose.yaml's comments give to serve other machines."""
    found = re.findall(
        r"^#\s+((?:\w+=\S+ )+)docker compose .* up -d$", COMPOSE_FILE.read_text(), re.M
    )
    assert len(found) == 1, f"compose.yaml should tell once how to serve other machines: {found}"
    return dict(word.split("=", 1) for word in found[0].split())


def test_serving_other_machines_closes_tokenless_reads(compose: Compose) -> None:
    """Published on every address, the nodes answer no read without a token: reads open to
    anyone go over plain HTTP only to this machine."""
    setting = lan_setting()
    assert f"{' '.join(f'{k}={v}' for k, v in setting.items())} docker compose" in (
        ROOT / "README.md"
    ).read_text().replace("\n", " "), "README tells otherwise"
    services = active(resolved_config(compose, env=setting), set())
    assert published_addresses(services["lb"]) == {"0.0.0.0"}
    for name in ("node1", "node2"):
        assert env_of(services[name])["CLOUDBRAIN_HTTP_READS"] == "nobody", name
