"""``cloudbrain agent create|list|revoke|prune``: AI identities, straight in the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cloudbrain.cli.options import (
    Db,
    Home,
    Json,
    LogFormat,
    LogLevel,
    Token,
    Url,
    run,
    settings,
    start_logging,
    with_engine,
)
from cloudbrain.cli.output import ago, console, emit, fail, to_jsonable
from cloudbrain.credentials import save, server_url
from cloudbrain.errors import CloudBrainError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cloudbrain.storage.agents import AgentRecord

app = typer.Typer(help="Register, list, revoke and prune AI identities.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The agent's name: what others send to."),
    skill: list[str] = typer.Option(
        [], "--skill", "-s", help="A skill it declares; repeat for more."
    ),
    description: str = typer.Option("", "--description", "-d", help="One line about it."),
    save_token: bool = typer.Option(
        False, "--save", help="Keep the token in the credentials file, for later commands."
    ),
    db: str = Db,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Register an AI identity and print its token. The token is shown only this once."""
    from cloudbrain.identity import create_agent

    config = settings(home, db)
    record, token = run(
        with_engine(
            config.db_url, lambda e: create_agent(e, name, description=description, skills=skill)
        ),
        as_json,
    )
    saved = save(config.home, server_url(config.home), name, token) if save_token else None

    def render() -> None:
        console.print(f"created agent [bold]{record.name}[/]")
        console.print(f"token: [bold yellow]{token}[/]")
        if saved:
            console.print(
                f"saved to {saved}; commands act as the default agent unless --name says otherwise"
            )
        else:
            console.print(
                "this is the only time the token is shown; keep it (or use --save next time)"
            )

    emit(
        {"agent": record, "token": token, "saved_to": str(saved) if saved else None},
        as_json,
        render,
    )


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include revoked agents."),
    new: float = typer.Option(
        None,
        "--new",
        metavar="DAYS",
        help="Only the active ones made in the last DAYS days (above 0, e.g. 1 or 0.5).",
        show_default=False,
    ),
    db: str = Db,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """List registered agents (online state is `cloudbrain who`)."""
    from cloudbrain.identity import list_agents, made_since

    if new is not None and new <= 0:
        raise typer.BadParameter("a number of days above 0, e.g. 1", param_hint="--new")
    config = settings(home, db)
    records: list[AgentRecord] = run(
        with_engine(config.db_url, lambda e: list_agents(e, include_revoked=all_)), as_json
    )
    if new is not None:
        records = made_since(records, datetime.now(UTC) - timedelta(days=new))

    def render() -> None:
        if not records:
            console.print("no agents yet: `cloudbrain agent create NAME --save` makes one")
            return
        table = Table("name", "skills", "description", "created", "state")
        for r in records:
            table.add_row(
                r.name,
                ", ".join(r.skills),
                r.description,
                ago(r.created_at),
                "active" if r.active else f"revoked {ago(r.revoked_at)}",
            )
        console.print(table)

    emit(records, as_json, render)


@app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="The agent to revoke."),
    db: str = Db,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Revoke an agent: its token stops working and its open connections are closed."""
    from cloudbrain.identity import get_agent, revoke_agent

    async def revoke_once(engine: AsyncEngine) -> tuple[AgentRecord, bool]:
        before = await get_agent(engine, name)
        if before is not None and not before.active:
            return before, False  # revoked before: say when, change nothing
        return await revoke_agent(engine, name), True

    config = settings(home, db)
    record, now = run(with_engine(config.db_url, revoke_once), as_json)
    emit(
        {**to_jsonable(record), "changed": now},
        as_json,
        lambda: console.print(
            f"revoked [bold]{record.name}[/]; its connections close within seconds"
            if now
            else f"{record.name} was revoked already, {ago(record.revoked_at)}",
            highlight=False,
        ),
    )


@app.command("prune")
def prune(
    made_within: float = typer.Option(
        ...,
        "--made-within",
        metavar="DAYS",
        help="Revoke the active identities made in the last DAYS days (e.g. 1, 0.5).",
    ),
    keep: list[str] = typer.Option(
        [], "--keep", metavar="NAME", help="Spare this one (repeat for more)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Revoke them; without it, only list them."),
    db: str = Db,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Revoke identities made lately, after a flood of sign-ups (say, original-protocol
    clients each opening a new name). Lists what it would revoke unless --yes is given.

    \b
      cloudbrain agent prune --made-within 1     # lists who is new
      cloudbrain agent prune --made-within 1 --keep nina --yes
    """
    from cloudbrain.identity import prune_agents

    if made_within <= 0:
        raise typer.BadParameter("a number of days above 0, e.g. 1", param_hint="--made-within")
    config = settings(home, db)
    since = datetime.now(UTC) - timedelta(days=made_within)
    records: list[AgentRecord] = run(
        with_engine(config.db_url, lambda e: prune_agents(e, since, set(keep), revoke=yes)),
        as_json,
    )

    def render() -> None:
        if not records:
            console.print(f"no active identity was made in the last {made_within:g} day(s)")
            return
        verb = "revoked" if yes else "would revoke"
        console.print(f"{verb} {len(records)}: " + ", ".join(r.name for r in records))
        if not yes:
            console.print("run again with --yes to revoke them (--keep NAME spares one)")

    emit({"revoked": records if yes else [], "listed": records}, as_json, render)


@app.command("run")
def run_agent(
    name: str = typer.Argument(
        None,
        help="The agent to run (default: the one `cloudbrain login` saved for the server); its "
        "token comes from --token, CLOUDBRAIN_TOKEN or that login.",
        show_default=False,
    ),
    brain: str = typer.Option(
        "auto",
        "--brain",
        "-b",
        help="ollama (think with a local model), recall (no model: quote memories), or auto "
        "(ollama when it answers, else recall).",
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="Ollama model (env CLOUDBRAIN_MODEL; default: llama3.2)."
    ),
    ollama_url: str = typer.Option(
        None,
        "--ollama-url",
        help="Ollama's address (env OLLAMA_HOST; default: http://127.0.0.1:11434).",
    ),
    ollama_api: str = typer.Option(
        "chat",
        "--ollama-api",
        help="chat (send the transcript) or generate (continue from Ollama's context tokens, "
        "kept per conversation for the same model digest).",
    ),
    device: str = typer.Option(
        None, "--device", help="This device's name (default: the host name)."
    ),
    skill: list[str] = typer.Option(
        [], "--skill", "-s", help="A skill it declares; repeat for more."
    ),
    gpu: str = typer.Option(
        None,
        "--gpu",
        help="This device's GPU, announced so heavy asks come here first "
        "(default: found with nvidia-smi).",
    ),
    gpu_memory: float = typer.Option(None, "--gpu-memory", help="Its memory in GB."),
    url: str = Url,
    token: str = Token,
    home: Path = Home,
    log_level: str = LogLevel,
    log_format: str = LogFormat,
) -> None:
    """Run an agent that answers messages from what it remembers and learns from each exchange.

    It keeps its memory on this device too (under --home), so it learns while offline, and
    syncs with the server whenever it is connected. Ctrl-C (or SIGTERM) stops it cleanly.
    """
    import logging
    import os
    import signal
    import socket

    from cloudbrain.agent.brains import Brain, RecallBrain
    from cloudbrain.agent.brains.ollama import DEFAULT_MODEL, DEFAULT_URL, OllamaBrain
    from cloudbrain.agent.device import device_folder, device_profile
    from cloudbrain.agent.runtime import AgentConfig, AgentRuntime
    from cloudbrain.cli.outbox import flushing_job, local_mail
    from cloudbrain.credentials import resolve

    if brain not in ("auto", "ollama", "recall"):
        fail(CloudBrainError(f"unknown brain {brain!r}", hint="use ollama, recall or auto"))
    if ollama_api not in ("chat", "generate"):
        fail(CloudBrainError(f"unknown Ollama API {ollama_api!r}", hint="use chat or generate"))
    config = settings(home, log_level=log_level, log_format=log_format)
    try:
        credentials = resolve(config.home, url, name, token)
        # Checked and escaped here, before anything connects or touches the disk.
        folder = device_folder(config.home, credentials.name, device or socket.gethostname())
    except CloudBrainError as error:
        fail(error)
    start_logging(config, ("websockets", "alembic"))
    device_name = device or socket.gethostname()
    thinker = OllamaBrain(
        credentials.name,
        url=ollama_url or os.environ.get("OLLAMA_HOST") or DEFAULT_URL,
        model=model or os.environ.get("CLOUDBRAIN_MODEL") or DEFAULT_MODEL,
        api="generate" if ollama_api == "generate" else "chat",
    )

    async def main() -> None:
        chosen: Brain = RecallBrain()
        if brain == "ollama":
            chosen = thinker
        elif brain == "auto":
            reason = await thinker.available()
            if reason is None:
                chosen = thinker
            else:
                logging.getLogger("cloudbrain.agent").info("thinking without a model: %s", reason)
        runtime = AgentRuntime(
            AgentConfig(
                name=credentials.name,
                token=credentials.token,
                url=credentials.url,
                trust=credentials.trust,
                device=device_name,
                folder=folder,
                skills=tuple(skill),
                embedder=config.embedder,
                profile=device_profile(
                    [thinker.model if chosen is thinker else "recall"], gpu, gpu_memory
                ),
            ),
            chosen,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.run(stop, [flushing_job(local_mail(home, credentials.name))])

    run(main())
