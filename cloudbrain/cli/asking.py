"""``cloudbrain ask``, ``asks``, ``rate`` and ``card``: asking the family and judging answers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from cloudbrain.cli.options import (
    Home,
    Json,
    Name,
    Since,
    Token,
    Until,
    Url,
    as_agent,
    run,
    times,
)
from cloudbrain.cli.output import ago, console, emit, print_json
from cloudbrain.errors import CloudBrainError
from cloudbrain.ids import is_uuid, match_id, short_id

NOBODY_KNOWS = 3  # the exit status of an ask that nobody could answer (errors are 1)

MAX_ASKS_LISTED = 200  # the most `asks` shows, and how far back a shortened id is looked up

if TYPE_CHECKING:
    from cloudbrain.agent.client import Client
    from cloudbrain.protocol import AskAnswer, AskResult


def ask(
    question: str = typer.Argument(..., help="What you want to know, in plain words."),
    skill: list[str] = typer.Option(
        [], "--skill", "-s", help="A topic the question is about; repeat for more."
    ),
    agent: list[str] = typer.Option(
        [], "--agent", "-a", help="Ask only this AI (live, or its memories); repeat for more."
    ),
    own: bool = typer.Option(
        False, "--self", help="Ask only your own past sessions: what you stored earlier."
    ),
    since: str = Since,
    until: str = Until,
    timeout: float = typer.Option(
        10.0, "--timeout", "-t", min=0.1, max=120, help="Seconds to wait for live answers."
    ),
    max_specialists: int = typer.Option(
        5, "--max-specialists", "-m", min=1, max=50, help="How many AIs to ask at most."
    ),
    enough: int = typer.Option(
        None,
        "--enough",
        "-e",
        min=1,
        max=50,
        help="Finish as soon as this many answers that know are in, without waiting for the "
        "rest (default: wait for every live AI asked, or --timeout).",
        show_default=False,
    ),
    complexity: str = typer.Option(
        None,
        "--complexity",
        "-c",
        help="How heavy the work is: light, medium, heavy, or 0 to 1. Heavy work goes first to "
        "the agent on the most capable device (default: the server estimates it).",
        show_default=False,
    ),
    offline: bool = typer.Option(
        False,
        "--offline",
        help="Do not wait for the server: queue the question as mail in your outbox; it is "
        "asked when the server is reachable and the answer arrives in your inbox.",
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Ask the family a question: specialists online answer now, past sessions answer from
    what they stored; you get ranked, attributed answers and a summary within --timeout.

    Examples:

      cloudbrain ask "How do I keep asyncio tasks from vanishing?"

      cloudbrain ask "What did I learn about backups?" --self --since 1w

      cloudbrain ask "Which GPU for llama 70b?" --skill gpu --timeout 20 --json

      cloudbrain ask --offline "How do I flash a Jetson?"   # then: cloudbrain maildir read

    While it waits, Ctrl-C finishes the ask with the answers that are in (a second Ctrl-C
    gives up). When no answer is about the question, it says "Nobody knows", with why each AI
    it considered fell short, and exits with status 3 (errors exit with 1).
    """
    if offline:
        from cloudbrain.cli.outbox import queue_offline

        queue_offline(home, name, token, url, as_json, kind="ask", body=question, skills=skill)
        return
    options: dict[str, Any] = {
        "skills": skill,
        "agents": agent,
        "own": own,
        "timeout": timeout,
        "max_specialists": max_specialists,
        **times(since, until),
    }
    if complexity is not None:
        options["complexity"] = complexity_of(complexity)
    if enough is not None:
        options["enough"] = enough

    async def action(client: Client) -> AskResult:
        from cloudbrain.protocol import AskAnswered, AskResult, AskStarted

        early = FinishEarly(client, as_json)
        try:
            async for event in client.ask(question, **options):
                if isinstance(event, AskResult):
                    return event
                if isinstance(event, AskStarted):
                    early.listen(event.ask)
                if as_json:
                    continue
                if isinstance(event, AskStarted):
                    console.print(started_line(event.specialists, event.topics), highlight=False)
                    if any(s.live for s in event.specialists):
                        console.print(
                            f"[dim]  waiting up to {timeout:g}s for live answers; Ctrl-C "
                            "finishes with the answers that are in[/]",
                            highlight=False,
                        )
                elif isinstance(event, AskAnswered):
                    a = event.answer
                    console.print(
                        f"[dim]  answer from[/] [bold]{a.agent}[/] [dim]({a.source})[/]",
                        highlight=False,
                    )
        finally:
            early.stop()
        raise AssertionError("an ask always ends with its result")

    result = run(as_agent(url, name, token, home, action), as_json, status="asking…")
    emit(result, as_json, lambda: show_result(result))
    if result.nobody_knows:
        raise typer.Exit(NOBODY_KNOWS)


def asks(
    mine: bool = typer.Option(False, "--mine", help="Only the asks you made."),
    limit: int = typer.Option(
        20, "--limit", "-l", min=1, max=MAX_ASKS_LISTED, help="How many, newest first."
    ),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """List past asks with their ranked answers and the feedback they got."""
    found = run(
        as_agent(url, name, token, home, lambda client: client.asks(mine=mine, limit=limit)),
        as_json,
    )

    def render() -> None:
        if not found:
            console.print('no asks yet: try [bold]cloudbrain ask "…"[/]')
        for result in found:
            console.rule(f"[bold]{result.question}[/]", align="left")
            console.print(
                f"[dim]ask {short_id(result.ask)} by {result.asker}, {ago(result.at)}[/]",
                highlight=False,
            )
            show_answers(result.answers)

    emit(found, as_json, render)


def rate(
    ask_id: str = typer.Argument(
        ..., help="The ask's id as `ask` or `asks` show it (any unique start or end of it)."
    ),
    answer_id: str = typer.Argument(
        ..., help="The answer's id as shown beside it (any unique start or end of it)."
    ),
    verdict: str = typer.Argument(..., help="up, down or accept."),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Rate an answer. Ratings teach the directory who knows what (learned skills); your
    latest rating of an answer is the one that counts."""
    from cloudbrain.cli.output import fail
    from cloudbrain.errors import CloudBrainError

    if verdict not in ("up", "down", "accept"):
        fail(CloudBrainError(f"unknown verdict {verdict!r}", hint="use up, down or accept"))

    async def rate_it(client: Client) -> tuple[str, str]:
        ask, answer = ask_id.lower(), answer_id.lower()
        if not (is_uuid(ask) and is_uuid(answer)):  # shortened: find them in the recent asks
            recent = await client.asks(limit=MAX_ASKS_LISTED)
            ask = match_id(ask_id, [r.ask for r in recent], "ask")
            [result] = [r for r in recent if r.ask == ask]
            answer = match_id(answer_id, [a.id for a in result.answers], "answer")
        await client.rate(ask, answer, verdict)
        return ask, answer

    ask, answer = run(as_agent(url, name, token, home, rate_it), as_json)
    emit(
        {"ask": ask, "rated": answer, "verdict": verdict},
        as_json,
        lambda: console.print(f"rated answer {short_id(answer)} {verdict}", highlight=False),
    )


def card(
    agent: str = typer.Argument(..., help="The AI whose card to show."),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = typer.Option(
        False, "--json", help="Accepted for scripts: the card is JSON already."
    ),
) -> None:
    """Print an AI's agent card (JSON in the spirit of the A2A Agent Card): who it is, what it
    knows (declared and learned skills, with examples), where to reach it."""
    print_json(run(as_agent(url, name, token, home, lambda client: client.card(agent)), as_json))


COMPLEXITY_WORDS = {"light": 0.2, "medium": 0.5, "heavy": 0.9}


def complexity_of(given: str) -> float:
    """``--complexity`` as the protocol takes it: a word, or a number from 0 to 1."""
    if given.lower() in COMPLEXITY_WORDS:
        return COMPLEXITY_WORDS[given.lower()]
    try:
        value = float(given)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise typer.BadParameter("light, medium, heavy, or a number from 0 to 1")
    return value


# --- drawing ---------------------------------------------------------------------------------


class FinishEarly:
    """While an ask waits, the first Ctrl-C asks the server to finish it with the answers that
    are in (the result then comes as usual); a second Ctrl-C gives up, as Ctrl-C always does."""

    def __init__(self, client: Client, as_json: bool) -> None:
        self.client, self.as_json = client, as_json
        self.finishing: asyncio.Task[None] | None = None
        self.ask: str | None = None

    def listen(self, ask: str) -> None:
        self.ask = ask
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._interrupted)

    def stop(self) -> None:
        if self.ask is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    def _interrupted(self) -> None:
        assert self.ask is not None
        self.stop()  # the next Ctrl-C is the usual one
        if not self.as_json:
            console.print(
                "[yellow]finishing with the answers that are in[/] [dim](Ctrl-C again to give "
                "up)[/]",
                highlight=False,
            )
        self.finishing = asyncio.create_task(self._finish(self.ask))

    async def _finish(self, ask: str) -> None:
        # The ask may have ended meanwhile (not_found): its result is on its way all the same.
        with contextlib.suppress(CloudBrainError):
            await self.client.finish_ask(ask)


def started_line(specialists: list[Any], topics: list[str]) -> str:
    if not specialists:
        return "[yellow]nobody to ask:[/] no AI knows the topic and none is online"
    who = ", ".join(f"{s.agent} ({'live' if s.live else 'memories'})" for s in specialists)
    about = f" about {', '.join(topics)}" if topics else ""
    return f"[dim]asked{about}:[/] {who}"


def show_result(result: AskResult) -> None:
    if result.nobody_knows:
        show_nobody_knows(result)
        return
    show_answers(result.answers)
    if result.summary:
        console.print(f"\n[bold]In short:[/] {result.summary}", highlight=False)
    if result.missing:
        console.print(
            f"[yellow]no live answer in time from:[/] {', '.join(result.missing)} "
            "(their stored memories were used)",
            highlight=False,
        )
    console.print(
        f"[dim]ask {short_id(result.ask)} · {result.seconds:.2f}s · rate an answer: "
        f"cloudbrain rate {short_id(result.ask)} ID up|down|accept[/]",
        highlight=False,
    )


def show_nobody_knows(result: AskResult) -> None:
    console.print("[bold yellow]Nobody knows.[/] No answer is about the question.", highlight=False)
    for agent, why in result.shortfalls.items():
        console.print(f"  [bold]{agent}[/]: {why}", highlight=False)
    console.print(
        "[dim]Ask again with --agent NAME to put it to someone in particular, or teach the "
        "family: cloudbrain memory add[/]",
        highlight=False,
    )


def show_answers(answers: list[AskAnswer]) -> None:
    if not answers:
        console.print("[yellow]no answers[/]: nobody knew, or nobody was asked")
        return
    table = Table("#", "answer", "from", "score", show_lines=True)
    for rank, a in enumerate(answers, start=1):
        also = f"\n[dim]also: {', '.join(a.also)}[/]" if a.also else ""
        feedback = " ".join(f"{k}:{v}" for k, v in sorted(a.feedback.items()))
        where = f"{a.source} · {a.device or '?'} · {a.at:%Y-%m-%d}"
        table.add_row(
            str(rank),
            a.text + also,
            f"[bold]{a.agent}[/]\n[dim]{where}\nsession {short_id(a.session) or '?'}\n"
            f"id {short_id(a.id)}[/]",
            (f"{a.score:.3f}" if a.knows else "[dim]doesn't know[/]")
            + (f"\n{feedback}" if feedback else ""),
        )
    console.print(table)


__all__ = ["ask", "asks", "card", "rate"]
