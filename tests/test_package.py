"""The package as another machine gets it: a wheel and an sdist built from this tree, installed
in fresh virtual environments that cannot see the source tree, and run from there.

Every install goes through the package index pip is configured with (and its cache), as an
install on a Jetson would: the build backend of the isolated build and the dependencies come
from there.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from tests.processes import ListeningProcess
from tests.services import ServerProcess, cli_env, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
PACKAGE_DIR: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
# What an sdist holds besides the package's own files: how to build it, and its description.
SDIST_EXTRAS = {"PKG-INFO", "README.md", "pyproject.toml", "MANIFEST.in", "setup.cfg"}
INSTALL_SECONDS = 600  # a cold pip cache downloads onnxruntime and friends


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path
    output: str


@dataclass(frozen=True)
class Venv:
    """A virtual environment of its own: not the one running the tests, no system packages."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def cloudbrain(self) -> str:
        return str(self.root / "bin" / "cloudbrain")

    def install(self, *requirements: str) -> None:
        # The test environment's pip installs into this one (`pip --python`): the venv needs no
        # pip of its own, which saves creating one for each. Compiling every module of the
        # dependencies at install takes longer than all the tests here; the commands compile
        # what they import, once (see outside_env).
        pip = [sys.executable, "-m", "pip", "--python", str(self.python)]
        done = subprocess.run(
            [*pip, "install", "--quiet", "--no-compile", *requirements],
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def run(self, *argv: str, env: dict[str, str] | None = None) -> str:
        """Run a program of this venv (``python`` or ``cloudbrain``) outside the source tree,
        so that nothing is imported from it; its output, once it succeeded."""
        done = subprocess.run(
            [str(self.root / "bin" / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.root,
            env=env or outside_env(self.root),
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def imported_from(self, module: str) -> Path:
        return Path(self.run("python", "-c", f"import {module}; print({module}.__file__)").strip())

    def site_packages(self) -> Path:
        code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        return Path(self.run("python", "-c", code).strip())


def make_venv(root: Path) -> Venv:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    return Venv(root)


def outside_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run from a fresh venv: nothing pointing at the source tree
    or at the test environment's packages."""
    env = cli_env(home, **extra)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    # Installed without compiling (see Venv.install): the first command writes the bytecode of
    # what it imports, and the next ones start fast.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def make_agents(db: str, *names: str) -> list[str]:
    """Their tokens, from agents made straight in the database (migrated by the server)."""

    async def make() -> list[str]:
        engine = create_engine(db)
        try:
            return [(await create_agent(engine, name))[1] for name in names]
        finally:
            await engine.dispose()

    return asyncio.run(make())


def source_files() -> set[str]:
    """Every file of the package's folders, as a path inside the installed package."""
    found = set()
    for package, folder in PACKAGE_DIR.items():
        prefix = Path(*package.split("."))
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(str(prefix / path.relative_to(ROOT / folder)))
    return found


def tree_path(installed: str) -> str:
    """Where a file of the installed package lives in the source tree (and in the sdist)."""
    parts = Path(installed).parts
    for depth in (2, 1):
        folder = PACKAGE_DIR.get(".".join(parts[:depth]))
        if folder is not None:
            return str(Path(folder, *parts[depth:]))
    raise AssertionError(installed)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The sdist and the wheel, built as `make dist` builds them: in an isolated environment
    with the build backend pyproject asks for, the wheel from the sdist."""
    out = tmp_path_factory.mktemp("dist")
    # Where PYTHONDONTWRITEBYTECODE is set, setuptools warns "byte-compiling is disabled": a
    # warning about the machine, not the package, which would hide the ones that matter.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
        env=env,
    )
    output = built.stdout + built.stderr
    assert built.returncode == 0, output[-5000:]
    [wheel] = out.glob(f"cloudbrain-{VERSION}-*.whl")
    [sdist] = out.glob(f"cloudbrain-{VERSION}.tar.gz")
    return Dist(wheel, sdist, output)


@pytest.fixture(scope="module")
def server_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    venv = make_venv(tmp_path_factory.mktemp("server-venv"))
    venv.install(f"cloudbrain[server] @ {dist.wheel.as_uri()}")
    return venv


def test_the_build_says_no_warning_and_ships_every_file_of_the_package(dist: Dist) -> None:
    warnings = [line for line in dist.output.splitlines() if "warn" in line.lower()]
    assert warnings == [], "\n".join(warnings)

    expected = source_files()
    assert {
        "cloudbrain/db/alembic.ini",
        "cloudbrain/db/migrations/script.py.mako",
        "cloudbrain/familio/templates/base.html",
        "cloudbrain/familio/static/familio.css",
        "cloudbrain/familio/static/swagger-ui/swagger-ui-bundle.js",
        "cloudbrain/familio/static/swagger-ui/LICENSE",
    } <= expected
    assert any(p.startswith("cloudbrain/db/migrations/versions/") for p in expected)

    with zipfile.ZipFile(dist.wheel) as wheel:
        in_wheel = {n for n in wheel.namelist() if not n.startswith(f"cloudbrain-{VERSION}.dist")}
    assert in_wheel == expected, (sorted(expected - in_wheel), sorted(in_wheel - expected))

    # The sdist is the source tree's layout, enough to build the same wheel again (the wheel
    # above was built from it), and no more: the tests run from a clone.
    top = f"cloudbrain-{VERSION}/"
    with tarfile.open(dist.sdist) as sdist:
        in_sdist = {
            m.name.removeprefix(top)
            for m in sdist.getmembers()
            if m.isfile() and "/cloudbrain.egg-info/" not in m.name
        }
    assert in_sdist == {tree_path(p) for p in expected} | SDIST_EXTRAS, sorted(
        in_sdist ^ ({tree_path(p) for p in expected} | SDIST_EXTRAS)
    )


# A program on the client machine, as README shows one: bob reads what came for him.
RECEIVE = """
import asyncio, sys
from cloudbrain.agent.client import Client


async def main(url: str, token: str) -> None:
    async with Client(url, "bob", token) as bob:
        message = await bob.receive(timeout=30)
        bob.ack(message)
        print(message.id, message.sender, message.text)


asyncio.run(main(*sys.argv[1:]))
"""


def test_the_plain_wheel_is_a_client_that_talks_to_a_server(dist: Dist, tmp_path: Path) -> None:
    """What a machine that only talks to a server installs: the CLI and the client library."""
    venv = make_venv(tmp_path / "venv")
    venv.install(str(dist.wheel))
    assert venv.run("cloudbrain", "--version") == f"cloudbrain {VERSION}\n"
    assert venv.imported_from("cloudbrain").is_relative_to(venv.site_packages())
    # The extras stayed out: the core install is small.
    absent = "import importlib.util as u; print(u.find_spec('sqlalchemy'), u.find_spec('fastapi'))"
    assert venv.run("python", "-c", absent) == "None None\n"

    db = f"sqlite+aiosqlite:///{tmp_path / 'server.db'}"
    with ServerProcess(tmp_path / "server", db) as server:
        # Agents are made where the database is (the server's machine: here the tests' own
        # environment); the client machine is given their tokens.
        alice, bob = make_agents(db, "alice", "bob")
        env = outside_env(tmp_path / "home", CLOUDBRAIN_URL=server.url)
        send = ("send", "bob", "from the wheel", "--name", "alice", "--token", alice, "--json")
        sent = json.loads(venv.run("cloudbrain", *send, env=env))
        got = venv.run("python", "-c", RECEIVE, server.url, bob, env=env)
    assert got == f"{sent['re']} alice from the wheel\n"


def serve(venv: Venv, home: Path, db: str) -> tuple[ListeningProcess, int]:
    """``cloudbrain server`` of that venv, with its web view on a port of its own."""
    http_port = free_port()
    env = outside_env(
        home,
        CLOUDBRAIN_DATABASE_URL=db,
        CLOUDBRAIN_HTTP_PORT=str(http_port),
        CLOUDBRAIN_SMTP="false",
    )
    server = ListeningProcess(
        [venv.cloudbrain, "server", "--node", "installed"], env, home / "server.log", cwd=home
    )
    home.mkdir(parents=True, exist_ok=True)
    return server, http_port


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return str(response.read().decode())


def assert_serves(venv: Venv, tmp_path: Path) -> None:
    """The venv's server takes an agent's connection and renders the web view's pages."""
    home = tmp_path / "home"
    db = f"sqlite+aiosqlite:///{tmp_path / 'server.db'}"
    server, http_port = serve(venv, home, db)
    with server:
        wait_for_port(http_port)
        env = outside_env(home, CLOUDBRAIN_DATABASE_URL=db, CLOUDBRAIN_URL=server.url)
        venv.run("cloudbrain", "agent", "create", "alice", "--skill", "python", "--save", env=env)
        # Connected and let in as alice (a command, so not shown online: see test_cli).
        who = json.loads(venv.run("cloudbrain", "who", "--name", "alice", "--json", env=env))
        assert [(a["name"], a["skills"]) for a in who] == [("alice", ["python"])]
        page = get(f"http://127.0.0.1:{http_port}/")
        css = get(f"http://127.0.0.1:{http_port}/static/familio.css")
        reference = get(f"http://127.0.0.1:{http_port}/docs")
        swagger = get(f"http://127.0.0.1:{http_port}/static/swagger-ui/swagger-ui-bundle.js")
    assert "<h1>The family</h1>" in page and "alice" in page
    assert css == (ROOT / "familio" / "static" / "familio.css").read_text()
    assert 'id="swagger-ui"' in reference
    assert (
        swagger == (ROOT / "familio" / "static" / "swagger-ui" / "swagger-ui-bundle.js").read_text()
    )


def test_the_wheel_with_the_server_extra_runs_a_server(server_venv: Venv, tmp_path: Path) -> None:
    assert server_venv.imported_from("cloudbrain").is_relative_to(server_venv.site_packages())
    assert server_venv.run("cloudbrain", "--version") == f"cloudbrain {VERSION}\n"
    assert_serves(server_venv, tmp_path)


def test_a_wheel_built_from_the_sdist_has_the_web_view(
    dist: Dist, server_venv: Venv, tmp_path: Path
) -> None:
    """pip builds a wheel from the sdist and installs it; that package serves the pages. Its
    dependencies are the server venv's (a path in a .pth file), to spare a second download."""
    venv = make_venv(tmp_path / "venv")
    venv.install("--no-deps", str(dist.sdist))
    site_packages = venv.site_packages()
    (site_packages / "dependencies.pth").write_text(f"{server_venv.site_packages()}\n")
    # The sdist's package comes first: its own site-packages is ahead of the borrowed one.
    assert venv.imported_from("cloudbrain.familio").is_relative_to(site_packages)
    assert_serves(venv, tmp_path)
