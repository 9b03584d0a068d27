"""``cloudbrain send|listen|who|status``: talking to a running server as an agent."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cloudbrain.cli.options import Home, Json, Name, Token, Url, as_agent, run
from cloudbrain.cli.output import ago, console, emit, print_json, to_jsonable
from cloudbrain.ids import uuid_as_given

if TYPE_CHECKING:
    from cloudbrain.agent.client import Client
    from cloudbrain.protocol import AgentInfo, Receipt


def send(
    to: str = typer.Argument(..., help="Agent name; with --topic a topic; '*' for every agent."),
    text: str = typer.Argument(..., help="The message; '-' reads it from standard input."),
    topic: bool = typer.Option(False, "--topic", "-t", help="TO names a topic, not an agent."),
    conversation: str = typer.Option(
        None, "--conversation", "-c", help="Conversation id to file it under."
    ),
    ttl: float = typer.Option(None, "--ttl", help="Seconds before an undelivered copy expires."),
    offline: bool = typer.Option(
        False,
        "--offline",
        help="Do not wait for the server: queue it as mail in your outbox, sent when the "
        "server is reachable.",
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Send a message. Returns once the server has stored it (delivery may come later).

    Examples: `cloudbrain send bob 'hi'`, `cloudbrain send --topic news 'v2 is out'`,
    `cloudbrain send '*' 'server maintenance at noon'`, `echo hi | cloudbrain send bob -`.
    """
    body = sys.stdin.read() if text == "-" else text
    if offline:
        from cloudbrain.cli.outbox import queue_offline

        kind = "topic" if topic else "broadcast" if to == "*" else "direct"
        queue_offline(
            home,
            name,
            token,
            url,
            as_json,
            kind=kind,
            target=to,
            body=body,
            conversation=conversation,
        )
        return
    options = {"conversation": conversation, "ttl": ttl}

    async def action(client: Client) -> Receipt:
        if topic:
            return await client.publish(to, body, **options)
        if to == "*":
            return await client.broadcast(body, **options)
        return await client.send(to, body, **options)

    receipt = run(as_agent(url, name, token, home, action), as_json)
    where = f"topic {to!r}" if topic else "everyone" if to == "*" else to
    emit(
        {**to_jsonable(receipt), "id": receipt.re},  # the message's id, as `status` takes it
        as_json,
        lambda: console.print(
            f"stored message {receipt.re} for {where} "
            f"({receipt.recipients} recipient{'s' if receipt.recipients != 1 else ''})"
            + (" — already stored before" if receipt.duplicate else "")
        ),
    )


def listen(
    topic: list[str] = typer.Option(
        [], "--topic", "-t", help="Also subscribe to this topic; repeat for more."
    ),
    count: int = typer.Option(
        0, "--count", min=0, help="Exit after this many messages (0: run until Ctrl-C)."
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Print messages for the agent as they arrive (one JSON object per line with --json).

    Messages that arrived while the agent was away come first, oldest first. Each is
    acknowledged after it is printed, so it is never shown twice. Reconnects by itself.
    """

    async def action(client: Client) -> None:
        for t in topic:
            await client.subscribe(t)
        if not as_json:
            console.print(
                f"listening as [bold]{client.name}[/]"
                + (f" (topics: {', '.join(topic)})" if topic else "")
                + "; Ctrl-C to stop",
                style="dim",
            )
        seen = 0
        async for message in client.messages():
            if as_json:
                print_json(message)
            else:
                where = (
                    f" #{message.topic}"
                    if message.topic
                    else " (to all)"
                    if message.kind == "broadcast"
                    else ""
                )
                console.print(
                    f"[dim]{message.at:%H:%M:%S}[/] [bold]{message.sender}[/]"
                    f"[dim]@{message.device}[/]{where}: {message.text}",
                    highlight=False,
                )
            seen += 1
            if count and seen >= count:
                client.ack(message)
                return

    with contextlib.suppress(KeyboardInterrupt):
        # Listening is the agent at work, not one command: it is online and gets its messages.
        run(as_agent(url, name, token, home, action, one_shot=False), as_json)


def who(
    skill: str = typer.Option(
        None, "--skill", "-s", help="Only AIs with this skill, declared or learned."
    ),
    online: bool = typer.Option(False, "--online", help="Only AIs online now."),
    text: str = typer.Option(
        None, "--text", help="Only AIs with this text in their name, description or skills."
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """The directory: every AI, online or not, on which devices, with which skills (declared,
    and learned: marked *, from answers other AIs rated up or accepted; an unrated answer
    teaches nothing)."""

    def action(client: Client) -> Awaitable[list[AgentInfo]]:
        return client.who(skill=skill, online=True if online else None, text=text)

    agents = run(as_agent(url, name, token, home, action), as_json)

    def render() -> None:
        table = Table("", "name", "devices", "skills", "memories", "last seen", "description")
        for a in agents:
            learned = [f"{s.topic}*" for s in a.learned_skills if s.topic not in a.skills]
            table.add_row(
                "[green]●[/]" if a.online else "[dim]○[/]",
                a.name,
                ", ".join(sorted({s.device for s in a.sessions} | {d.device for d in a.devices})),
                ", ".join([*a.skills, *learned]),
                str(a.memories),
                "online" if a.online else ago(a.last_seen),
                a.description,
            )
        console.print(table)
        online_now = sum(a.online for a in agents)
        console.print(f"{online_now} of {len(agents)} online; * learned skill", style="dim")

    emit(agents, as_json, render)


def status(
    message_id: str = typer.Argument(..., help="Id of a message you sent (from `send`)."),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Show whether each recipient has received a message you sent."""

    result = run(
        as_agent(url, name, token, home, lambda client: client.status(uuid_as_given(message_id))),
        as_json,
    )

    def render() -> None:
        table = Table("recipient", "state", "delivered")
        for r in result.recipients:
            table.add_row(r.agent, r.state, ago(r.delivered_at) if r.delivered_at else "")
        console.print(table)

    emit(result, as_json, render)


__all__ = ["listen", "send", "status", "who"]
