"""Imports point one way, as DESIGN.md's table says. Decision logic stays free of I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
        "server/router.py",
        "server/delivery.py",
        "directory/ask_machine.py",
        "directory/ask_plan.py",
        "server/protocol.py",
        "cloudbrain/ratelimit.py",
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
