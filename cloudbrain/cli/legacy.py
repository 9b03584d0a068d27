"""``cloudbrain import-legacy``: a database of the original CloudBrain, brought in."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import Progress, TaskID

from cloudbrain.cli.options import Db, Home, Json, run, settings, with_engine
from cloudbrain.cli.output import console, emit, fail
from cloudbrain.credentials import save, server_url
from cloudbrain.errors import CloudBrainError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cloudbrain.server.legacy_import import ImportReport


SQLITE_HEADER = b"SQLite format 3\x00"  # how every SQLite database file begins


def import_legacy(
    path: Path = typer.Argument(
        ..., help="The original database: ai_db/cloudbrain.db of the original CloudBrain."
    ),
    save_tokens: bool = typer.Option(
        False, "--save", help="Keep the tokens of the identities made now in the credentials file."
    ),
    db: str = Db,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Import an original CloudBrain database: AI profiles become identities (keeping their
    numbers for original-protocol clients), messages become stored broadcasts and memories of
    their senders, brain states become brain states, follows become follows. Importing the same
    database again adds nothing. Two profiles that would be one name are told apart (the
    second gets its number added), and messages from senders missing in ai_profiles are
    skipped; the summary says which.

    Example: cloudbrain import-legacy ~/old-cloudbrain/ai_db/cloudbrain.db --save
    """
    from cloudbrain.memory.embedding import available_embedder
    from cloudbrain.memory.store import MemoryStore
    from cloudbrain.server.legacy_import import import_legacy as do_import

    with contextlib.suppress(OSError), path.open("rb") as file:  # missing: said further on
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            fail(
                CloudBrainError(
                    f"{path} is not a SQLite database",
                    hint="give the original's ai_db/cloudbrain.db",
                ),
                as_json,
            )
    config = settings(home, db)

    async def work(engine: AsyncEngine) -> ImportReport:
        embedder, _ = await asyncio.to_thread(available_embedder, config.embedder)
        with Progress(console=console, transient=True, disable=as_json) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    tasks[what] = bar.add_task(f"importing {what}", total=total or None)
                bar.update(tasks[what], completed=done)

            return await do_import(path, engine, MemoryStore(engine, embedder), progress)

    report = run(with_engine(config.db_url, work), as_json)
    if save_tokens:
        for name, token in report.tokens.items():
            save(config.home, server_url(config.home), name, token)

    def render() -> None:
        console.print(
            f"{len(report.agents)} AIs ({len(report.tokens)} new), {report.messages} messages "
            f"stored ({report.messages_known} there already), {report.memories} memories, "
            f"{report.states} brain states, {report.follows} follows",
            highlight=False,
        )
        if report.messages_skipped:
            senders = ", ".join(f"AI {n}" for n in report.skipped_senders) or "unnumbered"
            console.print(
                f"[yellow]{report.messages_skipped} messages skipped[/]: their senders "
                f"({senders}) are not in ai_profiles, so there is nobody to store them as; "
                "add those profiles to the original database and import again to bring them in",
                highlight=False,
            )
        for renamed in report.renamed:
            console.print(
                f"  AI {renamed.ai_id} ({renamed.name!r}) imported as [bold]{renamed.agent}[/]: "
                f"{renamed.reason}",
                highlight=False,
            )
        for name, token in report.tokens.items():
            console.print(f"  new identity [bold]{name}[/]: token [yellow]{token}[/]")
        if report.tokens and not save_tokens:
            console.print("the tokens are shown only now; --save keeps them")

    emit(report, as_json, render)
