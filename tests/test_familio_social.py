"""Familio over the wire protocol, against a real server on both databases: following,
endorsing, withdrawing, the owner's trust, profiles with their history, refusals, and
reputation reaching the directory and the ranking of asks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from cloudbrain.agent.errors import ServerError
from cloudbrain.db import create_engine
from cloudbrain.errors import ErrorCode
from cloudbrain.familio.social import SocialChanges
from cloudbrain.server import Server
from cloudbrain.storage.social import SocialStore
from tests.conftest import ClientFactory


async def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_following_is_recorded_once_and_unfollowing_is_an_event_too(
    connect: ClientFactory,
) -> None:
    alice, bob = await connect("alice"), await connect("bob")
    assert await alice.follow("bob") is True
    assert await alice.follow("bob") is False  # nothing new: no second event
    profile = await bob.familio("bob")
    assert [link.agent for link in profile.followers] == ["alice"]
    assert [link.agent for link in (await alice.familio("alice")).following] == ["bob"]

    assert await alice.unfollow("bob") is True
    assert await alice.unfollow("bob") is False
    profile = await bob.familio("bob")
    assert profile.followers == []
    assert [(e.kind, e.actor, e.subject) for e in profile.history] == [
        ("unfollow", "alice", "bob"),
        ("follow", "alice", "bob"),
    ]


async def test_endorsements_are_per_skill_and_a_withdrawal_keeps_the_history(
    connect: ClientFactory,
) -> None:
    alice, bob = await connect("alice"), await connect("bob")
    assert await alice.endorse("bob", "PostgreSQL", "fixed our vacuum") is True
    assert await alice.endorse("bob", "postgresql") is False  # same skill, normalized
    assert await alice.endorse("bob", "python") is True
    received = (await bob.familio("bob")).endorsements
    assert sorted((e.endorser, e.skill, e.note) for e in received) == [
        ("alice", "postgresql", "fixed our vacuum"),
        ("alice", "python", ""),
    ]
    assert {e.agent for e in (await alice.familio("alice")).endorsed} == {"bob"}

    assert await alice.withdraw("bob", "python") is True
    profile = await bob.familio("bob")
    assert [e.skill for e in profile.endorsements] == ["postgresql"]
    kinds = [(e.kind, e.skill) for e in profile.history]
    assert kinds == [("withdraw", "python"), ("endorse", "python"), ("endorse", "postgresql")]


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.endorse("alice", "python"), ErrorCode.FORBIDDEN),
        (lambda c: c.follow("alice"), ErrorCode.FORBIDDEN),
        (lambda c: c.endorse("nobody", "python"), ErrorCode.NOT_FOUND),
        (lambda c: c.follow("nobody"), ErrorCode.NOT_FOUND),
        (lambda c: c.endorse("bob", "   "), ErrorCode.INVALID_FRAME),
        (lambda c: c.familio("nobody"), ErrorCode.NOT_FOUND),
    ],
    ids=["self-endorse", "self-follow", "endorse-unknown", "follow-unknown", "blank", "profile"],
)
async def test_refusals_are_typed_and_the_connection_goes_on(
    connect: ClientFactory, call: Callable[[Any], Any], code: ErrorCode
) -> None:
    alice = await connect("alice")
    await connect("bob")
    with pytest.raises(ServerError) as refused:
        await call(alice)
    assert refused.value.code == code
    assert await alice.follow("bob") is True  # still connected and served
    assert (await alice.familio("bob")).history[0].kind == "follow"


async def test_reputation_is_worked_out_in_the_background_and_explained(
    server: Server, connect: ClientFactory
) -> None:
    you, ada = await connect("you"), await connect("ada")
    await connect("grace")
    engine = create_engine(server.settings.db_url)
    try:
        assert await SocialChanges(SocialStore(engine)).trust("you", 1.0) is True
        assert await SocialChanges(SocialStore(engine)).trust("you", 1.0) is False
    finally:
        await engine.dispose()
    await you.endorse("ada", "python")

    async def ada_scored() -> Any:
        scores = (await ada.familio("ada")).reputation
        return scores if any(s.skill == "python" for s in scores) else None

    scores = await eventually(ada_scored)
    assert scores, "reputation was never worked out"
    overall, python = scores[0], next(s for s in scores if s.skill == "python")
    assert overall.skill == ""
    assert [(p.source, p.kinds) for p in python.parts] == [("you", ["endorse"])]
    assert overall.parts[0].source == "you"
    grace = (await ada.familio("grace")).reputation[0]
    assert grace.score == 0.0 and grace.parts == []  # nobody trusted speaks for her
    assert (await ada.familio("you")).owner_trust == 1.0

    async def in_directory() -> Any:
        roster = {p.name: p for p in await ada.who()}
        return roster if roster["ada"].skill_reputation.get("python") else None

    roster = await eventually(in_directory)
    assert roster, "the directory never showed ada's reputation"
    assert roster["ada"].reputation > roster["grace"].reputation
    assert roster["ada"].skill_reputation["python"] == python.score


async def test_a_raters_latest_verdict_on_an_answer_is_what_reputation_counts(
    connect: ClientFactory, make_agent: Any
) -> None:
    _, token = await make_agent("ada", skills=["python"])
    ada = await connect("ada", token=token, capabilities=["answers"])
    dora = await connect("dora")

    async def answer() -> None:
        question = await asyncio.wait_for(ada.questions.get(), 10)
        await ada.answer(question, "Keep a reference to every task.", confidence=0.9)

    answering = asyncio.create_task(answer())
    result = await dora.ask_and_wait("How do I keep python tasks alive?", timeout=5)
    await answering
    [given] = result.answers

    async def parts_from_dora(skill: str) -> list[Any]:
        scores = {s.skill: s for s in (await ada.familio("ada")).reputation}
        return [p for p in scores[skill].parts if p.source == "dora"] if skill in scores else []

    await dora.rate(result.ask, given.id, "accept")
    found = await eventually(lambda: parts_from_dora("python"))
    assert [p.kinds for p in found] == [["accept"]]
    # A down-rating replaces the accept (were both counted, +1 - 0.5 would still be trust).
    await dora.rate(result.ask, given.id, "down")

    async def dora_silent() -> bool:
        return not await parts_from_dora("")

    assert await eventually(dora_silent)
