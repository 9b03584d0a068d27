"""``cloudbrain demo``: the server plus a small family of specialists with knowledge of their
own, so that ``cloudbrain ask`` has someone to ask on a fresh machine.

Three specialists run here as agents (real WebSocket clients of the server, in this process);
a fourth, hopper, is not running: what an earlier session of hers stored is all there is, and
asks still find it. Once they are up, ``you`` asks them a few questions, so Familio's pages
(http://127.0.0.1:8767/) show answered asks as well as the family's follows and endorsements.
Everything the demo adds is ordinary data (see :mod:`demo_family`), added once however often
the demo runs; `cloudbrain agent revoke NAME` retires an agent.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cloudbrain.cli.demo_family import (
    ASKER,
    FAMILY,
    QUESTIONS,
    question_id,
    seed_memories,
    seed_social,
)
from cloudbrain.cli.options import (
    Db,
    Home,
    Http,
    HttpPort,
    MailDomain,
    Port,
    Smtp,
    SmtpPort,
    run,
    settings,
    start_logging,
)
from cloudbrain.cli.output import console, fail
from cloudbrain.errors import CloudBrainError

if TYPE_CHECKING:
    from cloudbrain.agent.runtime import AgentRuntime
    from cloudbrain.server import Server
    from cloudbrain.settings import Settings

log = logging.getLogger(__name__)


def demo(
    port: int = Port,
    brain: str = typer.Option(
        "auto",
        "--brain",
        "-b",
        help="How the specialists think: ollama, recall (quote their memories) or auto "
        "(ollama when it answers, else recall).",
    ),
    smtp_port: int = SmtpPort,
    mail_domain: str = MailDomain,
    smtp: bool = Smtp,
    http_port: int = HttpPort,
    http: bool = Http,
    db: str = Db,
    home: Path = Home,
) -> None:
    """Run the server with a small family of specialists, ready to be asked.

    ada (python, asyncio), linus (linux, networking) and grace (databases) run here and answer
    live; hopper (kubernetes, docker) is offline: asks find what her earlier sessions stored.
    From another terminal:

      cloudbrain ask "How do I keep asyncio tasks from disappearing?"

      cloudbrain ask "How do I roll back a kubernetes deployment?"

      cloudbrain who

    Ctrl-C stops everything.
    """
    if brain not in ("auto", "ollama", "recall"):
        fail(CloudBrainError(f"unknown brain {brain!r}", hint="use ollama, recall or auto"))
    config = settings(
        home,
        db,
        port=port,
        smtp_port=smtp_port,
        mail_domain=mail_domain,
        smtp=smtp,
        http_port=http_port,
        http=http,
    )
    start_logging(config, ("websockets", "alembic", "mail.log"))
    try:
        run(_demo(config, brain))
    except OSError as exc:
        fail(
            CloudBrainError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                hint="is a server already running there? stop it, or pick another --port",
            )
        )


async def _demo(config: Settings, brain: str) -> None:
    from cloudbrain.agent.brains import RecallBrain
    from cloudbrain.agent.brains.ollama import DEFAULT_MODEL, DEFAULT_URL, OllamaBrain
    from cloudbrain.agent.runtime import AgentConfig, AgentRuntime
    from cloudbrain.credentials import save, saved_tokens, trust_for
    from cloudbrain.db import create_engine, upgrade
    from cloudbrain.identity import agent_of_token, create_agent, get_agent
    from cloudbrain.memory.embedding import available_embedder
    from cloudbrain.memory.store import MemoryStore
    from cloudbrain.server import Server, settle

    await asyncio.to_thread(upgrade, config.db_url)
    engine = create_engine(config.db_url)
    tokens: dict[str, str] = {}
    try:
        for member in (None, *FAMILY):  # the asker first: the default when there is none
            name = member.name if member else ASKER
            # Saved by an earlier demo, perhaps on another port: its own database says whose.
            for token in saved_tokens(config.home, name):
                found = await agent_of_token(engine, token)
                if found is not None and found.name == name:
                    tokens[name] = token
                    save(config.home, config.url, name, token)
                    break
            if name in tokens:
                continue
            if await get_agent(engine, name) is not None:
                raise CloudBrainError(
                    f"agent {name!r} exists but its token is not saved under {config.home}",
                    hint="run the demo with another --home (or CLOUDBRAIN_HOME)",
                )
            _, tokens[name] = await create_agent(
                engine,
                name,
                description=member.description if member else "you, asking from the CLI",
                skills=list(member.skills) if member else [],
            )
            save(config.home, config.url, name, tokens[name])
        embedder, _ = await asyncio.to_thread(available_embedder, config.embedder)
        await MemoryStore(engine, embedder).add(seed_memories(datetime.now(UTC)))
        await seed_social(engine, ASKER)
    finally:
        await engine.dispose()

    async with Server(config) as server:
        runtimes = []
        for member in FAMILY:
            if not member.live:
                continue
            runtime = AgentRuntime(
                AgentConfig(
                    name=member.name,
                    token=tokens[member.name],
                    url=server.url,
                    trust=trust_for(config.home, server.url),
                    device=member.device,
                    folder=config.home / "agents" / member.name / member.device,
                    skills=member.skills,
                    embedder=config.embedder,
                ),
                RecallBrain(),
            )
            if brain != "recall":
                thinker = OllamaBrain(member.name, url=DEFAULT_URL, model=DEFAULT_MODEL)
                if brain == "ollama" or await thinker.available() is None:
                    runtime.brain = thinker
            runtimes.append(runtime)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(r.run(stop), name=r.config.name) for r in runtimes]
        settle()
        asking = asyncio.create_task(_ask_the_family(server, tokens[ASKER], runtimes))
        thinking = {r.brain.name for r in runtimes}
        console.print(
            f"[bold]CloudBrain[/] demo on [cyan]{server.url}[/]: "
            f"{', '.join(r.config.name for r in runtimes)} online "
            f"(brain: {', '.join(sorted(thinking))}), hopper offline with stored knowledge.\n"
            f'Try, from another terminal:  [bold]cloudbrain ask "How do I keep asyncio tasks '
            f'from disappearing?"[/]\n'
            + (
                f"or mail [bold]ask@{config.mail_domain}[/] from {ASKER}@{config.mail_domain} "
                f"via smtp://{config.host}:{server.smtp_port} and read the answer with "
                "[bold]cloudbrain maildir read --server[/]\n"
                if server.gateway is not None
                else ""
            )
            + (
                f"Familio, the web view of the family: [bold cyan]{server.http_url}/[/]\n"
                if server.web is not None
                else ""
            )
            + "(Ctrl-C stops the demo.)",
            highlight=False,
        )
        await stop.wait()
        asking.cancel()
        await asyncio.gather(asking, *tasks, return_exceptions=True)


async def _ask_the_family(server: Server, token: str, runtimes: list[AgentRuntime]) -> None:
    """Once the specialists are online, ask them the demo's questions as ``you`` (each under
    an id of its own, so a question asked in an earlier run is not asked again)."""
    from cloudbrain.agent.client import Client

    assert server.hub is not None
    for _ in range(300):
        if all(server.hub.answering_session(r.config.name) for r in runtimes):
            break
        await asyncio.sleep(0.1)
    try:
        async with Client(server.url, ASKER, token) as client:
            for question in QUESTIONS:
                await client.ask_and_wait(question, ask_id=question_id(question))
    except CloudBrainError as exc:
        log.warning("the demo's own questions were not asked: %s", exc)
