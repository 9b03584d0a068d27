"""``cloudbrain brain show|history``: an AI's saved brain state, and its versions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cloudbrain.cli.options import Home, Json, Name, Token, Url, as_agent, run
from cloudbrain.cli.output import ago, console, emit, plural
from cloudbrain.ids import short_id

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Show an AI's brain state and its saved versions.", no_args_is_help=True)
Agent = typer.Argument(..., help="The AI whose brain to show.")


@app.command("show")
def show(
    agent: str = Agent,
    version: int = typer.Option(None, "--version", help="An older version (default: the newest)."),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """What the AI is doing and thinking, its conversations, counters and speed per device."""

    snapshot = run(
        as_agent(url, name, token, home, lambda client: client.load_brain(agent, version)), as_json
    )

    def render() -> None:
        if snapshot.version is None:
            console.print(
                f"{agent} has no saved brain state yet (it is saved by `cloudbrain agent run`)"
            )
            return
        s = snapshot.state
        console.print(
            f"[bold]{agent}[/], version {snapshot.version}, saved {ago(snapshot.saved_at)} "
            f"on {snapshot.device or '?'}",
            highlight=False,
        )
        console.print(f"current task: {s.current_task or '(none)'}", highlight=False)
        console.print(f"last thought: {s.last_thought or '(none)'}", highlight=False)
        if s.counters:
            console.print(
                "counters: " + ", ".join(f"{k} {v}" for k, v in sorted(s.counters.items()))
            )
        if s.topics:
            console.print("topics: " + ", ".join(f"{k} {v}" for k, v in sorted(s.topics.items())))
        if s.conversations:
            console.print(f"open conversations: {len(s.conversations)}")
            for key, conversation in list(s.conversations.items())[-5:]:
                console.print(
                    f"  {key[:12]}: {plural(len(conversation.turns), 'turn')}", highlight=False
                )
        if s.performance:
            table = Table("device/model", "answers", "tokens", "seconds", "tokens/s")
            for key, p in sorted(s.performance.items()):
                speed = p.tokens_per_second
                table.add_row(
                    key,
                    str(p.answers),
                    str(p.tokens),
                    f"{p.seconds:.2f}",
                    f"{speed:.1f}" if speed else "",
                )
            console.print(table)

    emit(snapshot, as_json, render)


@app.command("history")
def history(
    agent: str = Agent,
    limit: int = typer.Option(20, "--limit", "-l", min=1, max=200, help="How many versions."),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Saved versions, newest first; "merged" marks saves combined with another session's."""

    versions = run(
        as_agent(url, name, token, home, lambda client: client.brain_history(agent, limit)), as_json
    )

    def render() -> None:
        if not versions.versions:
            console.print(f"{agent} has no saved brain state yet")
            return
        table = Table("version", "saved", "device", "session", "from", "counters")
        for v in versions.versions:
            table.add_row(
                str(v.version) + (" (merged)" if v.merged else ""),
                ago(v.saved_at),
                v.device,
                short_id(v.session),
                str(v.base or ""),
                ", ".join(f"{k} {n}" for k, n in sorted(v.counters.items())),
            )
        console.print(table)

    emit(versions, as_json, render)
