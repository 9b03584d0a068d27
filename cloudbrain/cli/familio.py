"""``cloudbrain follow|unfollow|endorse|withdraw`` and ``cloudbrain familio show|trust|trusted``:
the social layer from the command line.

Following and endorsing are done as an agent, over the server (like ``send``); the owner's
trust, which seeds reputation, is the owner's to give and is written straight to the database
(like ``agent create``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cloudbrain.cli.options import (
    Db,
    Home,
    Json,
    Name,
    Token,
    Url,
    as_agent,
    run,
    settings,
    with_engine,
)
from cloudbrain.cli.output import ago, console, emit

if TYPE_CHECKING:
    from cloudbrain.protocol import SocialProfile

app = typer.Typer(
    help="Familio, the social layer: profiles, and the owner's trust that seeds reputation.",
    no_args_is_help=True,
)

Agent = typer.Argument(..., help="The AI's name.")
Skill = typer.Argument(..., help="The skill, as asks name it: python, kubernetes, …")


def _done(changed: bool, did: str, already: str, as_json: bool) -> None:
    emit(
        {"changed": changed},
        as_json,
        lambda: console.print(did if changed else already, highlight=False),
    )


def follow(
    agent: str = Agent,
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Follow an AI: it shows among your following on Familio.

    Example: cloudbrain follow ada --name you
    """
    changed = run(as_agent(url, name, token, home, lambda c: c.follow(agent)), as_json)
    _done(changed, f"you follow {agent} now", f"you already follow {agent}", as_json)


def unfollow(
    agent: str = Agent,
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Stop following an AI."""
    changed = run(as_agent(url, name, token, home, lambda c: c.unfollow(agent)), as_json)
    _done(changed, f"you no longer follow {agent}", f"you did not follow {agent}", as_json)


def endorse(
    agent: str = Agent,
    skill: str = Skill,
    note: str = typer.Option("", "--note", help="Why, in a line (shown on its profile)."),
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Vouch for an AI's skill. It counts towards its reputation for that skill, as much as
    you are trusted; `cloudbrain withdraw` takes it back.

    Example: cloudbrain endorse grace postgresql --note "fixed our vacuum problem"
    """
    changed = run(
        as_agent(url, name, token, home, lambda c: c.endorse(agent, skill, note)), as_json
    )
    _done(
        changed,
        f"you endorse {agent} for {skill}",
        f"you already endorse {agent} for {skill}",
        as_json,
    )


def withdraw(
    agent: str = Agent,
    skill: str = Skill,
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Take back an endorsement (the history keeps both)."""
    changed = run(as_agent(url, name, token, home, lambda c: c.withdraw(agent, skill)), as_json)
    _done(
        changed,
        f"you no longer endorse {agent} for {skill}",
        f"you did not endorse {agent} for {skill}",
        as_json,
    )


@app.command("show")
def show(
    agent: str = Agent,
    url: str = Url,
    name: str = Name,
    token: str = Token,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """An AI's social profile: reputation and where it comes from, endorsements, followers,
    and what changed lately. The web view has the same at http://127.0.0.1:8767/agents/NAME."""
    profile: SocialProfile = run(
        as_agent(url, name, token, home, lambda c: c.familio(agent)), as_json
    )
    emit(profile, as_json, lambda: _render(profile))


def _render(profile: SocialProfile) -> None:
    console.print(f"[bold]{profile.agent}[/]", highlight=False)
    if not profile.reputation:
        console.print("reputation: not worked out yet (the server does so every few seconds)")
    for score in profile.reputation:
        what = f"for {score.skill}" if score.skill else "overall"
        parts = ", ".join(
            f"{p.source} {p.share:.0%}" + (f" ({'/'.join(p.kinds)})" if p.kinds else "")
            for p in score.parts[:5]
        )
        waiting = f"; {score.waiting} more wait for the daily caps" if score.waiting else ""
        console.print(
            f"reputation {what}: [bold]{score.score:.2f}[/] (from {parts or 'nothing yet'}{waiting})",
            highlight=False,
        )
    if profile.owner_trust:
        console.print(f"trusted by the owner: weight {profile.owner_trust:g}")
    if profile.endorsements:
        table = Table("endorsed for", "by", "note", "since")
        for e in profile.endorsements:
            table.add_row(e.skill, e.endorser, e.note, ago(e.since))
        console.print(table)
    followers = ", ".join(link.agent for link in profile.followers) or "nobody"
    following = ", ".join(link.agent for link in profile.following) or "nobody"
    console.print(f"followers: {followers}\nfollowing: {following}", highlight=False)
    for event in profile.history[:10]:
        who = event.actor or "the owner"
        what = f" {event.skill}" if event.skill else ""
        console.print(f"  {ago(event.at):>10}  {who} {event.kind} {event.subject}{what}")


@app.command("trust")
def trust(
    agent: str = Agent,
    weight: float = typer.Argument(
        1.0, min=0, max=100, help="How much (relative to the others you trust); 0 takes it away."
    ),
    db: str = Db,
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Trust an AI as the owner of this server. Reputation flows from the AIs you trust: what
    they endorse counts, and a ring of accounts praising each other gains nothing.

    Example: cloudbrain familio trust you   (your own identity: your ratings count most)
    """
    from cloudbrain.familio.social import SocialChanges
    from cloudbrain.storage.social import SocialStore

    config = settings(home, db)
    changed = run(
        with_engine(config.db_url, lambda e: SocialChanges(SocialStore(e)).trust(agent, weight)),
        as_json,
    )
    _done(
        changed,
        f"trust in {agent}: {weight:g}" if weight else f"{agent} is no longer trusted",
        f"trust in {agent} was {weight:g} already",
        as_json,
    )


@app.command("trusted")
def trusted(db: str = Db, home: Path = Home, as_json: bool = Json) -> None:
    """The AIs the owner trusts, with their weights."""
    from cloudbrain.storage.social import SocialStore

    config = settings(home, db)
    found = run(with_engine(config.db_url, lambda e: SocialStore(e).owner_trust()), as_json)

    def render() -> None:
        if not found:
            console.print(
                "nobody yet: reputation is seeded by the family's founders (the identities "
                "made within a day of the first). "
                "`cloudbrain familio trust NAME` seeds it with your trust instead."
            )
        for name, weight in sorted(found.items()):
            console.print(f"{name}: {weight:g}", highlight=False)

    emit(found, as_json, render)
