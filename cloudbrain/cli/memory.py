"""``cloudbrain memory add|search|export|import``: what agents learned, through the server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import Progress

from cloudbrain.cli.options import Home, Json, Name, Since, Token, Until, Url, as_agent, run, times
from cloudbrain.cli.output import console, emit, errors, fail, plural
from cloudbrain.errors import CloudBrainError
from cloudbrain.ids import short_id
from cloudbrain.memory.records import KINDS, Kind, MemoryRecord

if TYPE_CHECKING:
    from cloudbrain.agent.client import Client
    from cloudbrain.protocol import Remembered

app = typer.Typer(help="Add, search, export and import memories.", no_args_is_help=True)

Agent = typer.Option(
    None, "--agent", "-a", help="Only this agent's memories (default: everyone's)."
)
IMPORT_CHUNK = 200


def _kind(kind: str | None) -> Kind | None:
    if kind is not None and kind not in KINDS:
        fail(CloudBrainError(f"unknown kind {kind!r}", hint=f"use one of {', '.join(KINDS)}"))
    return kind


@app.command("add")
def add(
    text: str = typer.Argument(..., help="What to remember; '-' reads it from standard input."),
    kind: str = typer.Option("note", "--kind", "-k", help="note or fact."),
    importance: float = typer.Option(0.5, "--importance", min=0.0, max=1.0, help="0 to 1."),
    conversation: str = typer.Option(
        None, "--conversation", "-c", help="Conversation it belongs to."
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Remember something as the agent, on this device."""
    content = sys.stdin.read() if text == "-" else text
    checked_kind = _kind(kind) or "note"

    async def action(client: Client) -> Remembered:
        record = MemoryRecord(
            ai=client.name,
            session=client.session or "",
            device=client.device,
            kind=checked_kind,
            content=content,
            importance=importance,
            conversation=conversation,
            provenance={"source": "cli"},
        )
        return await client.remember(record)

    result = run(as_agent(url, name, token, home, action), as_json)
    emit(
        result,
        as_json,
        lambda: console.print(
            f"remembered {result.stored[0] if result.stored else '(already known)'}"
        ),
    )


@app.command("search")
def search(
    query: str = typer.Argument(..., help="What to look for, in your own words."),
    agent: str = Agent,
    since: str = Since,
    until: str = Until,
    kind: str = typer.Option(None, "--kind", "-k", help="exchange, fact or note."),
    device: str = typer.Option(None, "--device", help="Only memories learned on this device."),
    session: str = typer.Option(
        None,
        "--session",
        help="Only memories from this session: its id, or the short id lists show.",
    ),
    limit: int = typer.Option(5, "--limit", "-l", min=1, max=50, help="How many to show."),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Find memories by meaning and words, best first, with who learned them, where and when.

    Example: `cloudbrain memory search "asyncio pitfalls" --agent alice --since 2d`.
    """
    if not query.strip():
        fail(
            CloudBrainError("nothing to look for", hint="e.g. cloudbrain memory search 'vpn port'"),
            as_json,
        )
    filters: dict[str, Any] = {
        "ai": agent,
        "kind": _kind(kind),
        "device": device,
        "session": session,
    }
    filters = {k: v for k, v in filters.items() if v is not None} | times(since, until)

    results = run(
        as_agent(
            url, name, token, home, lambda client: client.recall(query, limit=limit, **filters)
        ),
        as_json,
    )

    def render() -> None:
        if not results:
            console.print(
                "nothing remembered about that" + (" in that time" if since or until else "")
            )
            return
        for i, r in enumerate(results, 1):
            m = r.memory
            console.print(
                f"[bold]{i}.[/] [cyan]{m.ai}[/] on [magenta]{m.device or '?'}[/], "
                f"{m.created_at:%Y-%m-%d %H:%M} UTC, session {short_id(m.session) or '?'}, {m.kind}"
                f"  [dim]score {r.score:.4f}[/]",
                highlight=False,
            )
            console.print(f"   {m.content}", highlight=False)

    emit(results, as_json, render)


@app.command("export")
def export(
    agent: str = typer.Option(
        None, "--agent", "-a", help="This agent's memories (default: your own)."
    ),
    everyone: bool = typer.Option(
        False, "--everyone", help="Every agent's memories (a backup of the whole family)."
    ),
    since: str = Since,
    until: str = Until,
    out: Path = typer.Option(
        None, "--out", "-o", help="Write to this file instead of standard output."
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = typer.Option(
        False, "--json", help="Accepted for scripts: the output is JSON Lines already."
    ),
) -> None:
    """Write memories as JSON Lines, oldest first: one memory per line, for backup or import.

    Your own by default, so that `cloudbrain memory import FILE` (as you, on this server or
    another) takes them all back.
    """
    if agent and everyone:
        fail(CloudBrainError("--agent and --everyone both given", hint="choose one"), as_json)
    if out is not None and not out.parent.is_dir():
        fail(
            CloudBrainError(f"no folder {out.parent} to write {out.name} in", hint="check --out"),
            as_json,
        )
    filters: dict[str, Any] = times(since, until)

    async def action(client: Client) -> int:
        if not everyone:
            filters["ai"] = agent or client.name
        count = 0
        target = out.open("w", encoding="utf-8") if out else sys.stdout
        try:
            async for page in client.memory_pages(**filters):
                for record in page:
                    target.write(record.model_dump_json(exclude_none=True) + "\n")
                count += len(page)
                if out:
                    errors.print(f"exported {count} memories…", end="\r")
        finally:
            if out:
                target.close()
        return count

    count = run(as_agent(url, name, token, home, action), as_json)
    errors.print(f"exported {plural(count, 'memory', 'memories')}" + (f" to {out}" if out else ""))


@app.command("import")
def import_(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A JSON Lines file from `memory export`."
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Load memories from JSON Lines. Safe to repeat: memories already there are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(
            CloudBrainError(
                f"{path} is not text", hint="the file should come from `cloudbrain memory export`"
            ),
            as_json,
        )
    lines = [line for line in text.splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(MemoryRecord.model_validate_json(line))
        except ValueError as exc:
            fail(
                CloudBrainError(
                    f"{path}:{number}: not a memory record ({str(exc).splitlines()[0]})",
                    hint="the file should come from `cloudbrain memory export`",
                ),
                as_json,
            )

    async def action(client: Client) -> dict[str, int]:
        totals = {"stored": 0, "duplicates": 0}
        with Progress(console=errors, transient=True, disable=as_json) as progress:
            task = progress.add_task("importing", total=len(records))
            for start in range(0, len(records), IMPORT_CHUNK):
                result = await client.remember(*records[start : start + IMPORT_CHUNK])
                totals["stored"] += len(result.stored)
                totals["duplicates"] += len(result.duplicates)
                progress.advance(task, IMPORT_CHUNK)
        return totals

    totals = run(as_agent(url, name, token, home, action), as_json)
    emit(
        totals,
        as_json,
        lambda: console.print(
            f"imported {totals['stored']} new memories; {totals['duplicates']} were already there"
        ),
    )
