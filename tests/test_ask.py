"""Asking the family against a real server: live specialists, past sessions, deadlines,
cancellation, feedback and the directory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudbrain.agent.brains import RecallBrain
from cloudbrain.agent.client import Client
from cloudbrain.agent.errors import ConnectionLost, ServerError
from cloudbrain.agent.runtime import AgentConfig, AgentRuntime
from cloudbrain.errors import ErrorCode
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import (
    ANSWERS_CAPABILITY,
    AskAnswered,
    AskResult,
    AskStarted,
    DeviceProfile,
    Question,
)
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import AgentFactory, ClientFactory
from tests.test_agent_runtime import Running

ASYNCIO_FACT = "Asyncio tasks need a strong reference or they may be garbage collected"
DAY_AGO = datetime.now(UTC) - timedelta(days=1)


async def specialist(
    server: Server, make_agent: AgentFactory, tmp_path: Path, name: str, *skills: str
) -> Running:
    _, token = await make_agent(name, skills=list(skills))
    config = AgentConfig(name, token, server.url, f"{name}-laptop", tmp_path / name)
    running = Running(AgentRuntime(config, RecallBrain()))
    await running.until_connected()
    return running


async def store(
    client: Client, *contents: str, session: str = "", when: datetime = DAY_AGO
) -> None:
    await client.remember(
        *(
            MemoryRecord(
                ai=client.name,
                kind="note",
                content=content,
                session=session,
                device="jetson",
                created_at=when,
            )
            for content in contents
        )
    )


async def answering_sessions(client: Client, *names: str) -> None:
    """Wait until the server lists the named agents online (their runtimes said hello)."""
    for _ in range(100):
        online = {a.name for a in await client.who(online=True)}
        if set(names) <= online:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{names} did not come online")


async def test_an_ask_reaches_live_specialists_and_past_sessions(
    server: Server, make_agent: AgentFactory, connect: ClientFactory, tmp_path: Path
) -> None:
    # carol is gone: only what an earlier session of hers stored is left.
    carol = await connect("carol")
    await store(carol, ASYNCIO_FACT, session="carol-earlier")
    await carol.close()
    alice = await specialist(server, make_agent, tmp_path, "alice", "python")
    bob = await specialist(server, make_agent, tmp_path, "bob", "kubernetes")
    try:
        assert alice.runtime.local.store is not None
        await alice.runtime.learn(
            MemoryRecord(ai="alice", content="Keep asyncio tasks in a set until they finish")
        )
        asker = await connect("dora")
        await answering_sessions(asker, "alice", "bob")
        events = [e async for e in asker.ask("How do I keep python asyncio tasks alive?")]
    finally:
        await alice.end()
        await bob.end()
    started, *answered, result = events
    assert isinstance(started, AskStarted) and isinstance(result, AskResult)
    assert all(isinstance(e, AskAnswered) for e in answered)
    chosen = {s.agent: s for s in started.specialists}
    assert chosen["alice"].live and chosen["alice"].why["declared_skill"] == 1.0
    assert not chosen["carol"].live and chosen["carol"].why["memory"] > 0
    assert "bob" not in chosen  # no skill, no memory on the subject
    assert started.topics == ["python"]
    by_agent = {a.agent: a for a in result.answers}
    assert by_agent["alice"].source == "live" and "in a set" in by_agent["alice"].text
    assert by_agent["alice"].device == "alice-laptop"
    past = by_agent["carol"]
    assert (past.source, past.session, past.device) == ("memory", "carol-earlier", "jetson")
    assert ASYNCIO_FACT in past.text and past.memories
    assert result.missing == [] and result.summary
    assert [a.score for a in result.answers] == sorted(
        (a.score for a in result.answers), reverse=True
    )
    # Stored, and listed with the same ranking.
    [listed] = await asker.asks(mine=True)
    assert listed.ask == result.ask and [a.id for a in listed.answers] == [
        a.id for a in result.answers
    ]


async def test_a_deadline_returns_what_arrived_and_who_did_not_answer(
    server: Server, make_agent: AgentFactory, connect: ClientFactory, tmp_path: Path
) -> None:
    silent = await connect("silent", capabilities=(ANSWERS_CAPABILITY,))
    await store(silent, "Backups of the wiki run nightly at 02:00")
    quick = await specialist(server, make_agent, tmp_path, "quick", "backups")
    try:
        asker = await connect("dora")
        await answering_sessions(asker, "quick", "silent")
        loop = asyncio.get_running_loop()
        began = loop.time()
        result = await asker.ask_and_wait("When do the wiki backups run?", timeout=1.0)
        took = loop.time() - began
    finally:
        await quick.end()
    question = await asyncio.wait_for(silent.questions.get(), 1)
    assert question.ask == result.ask and question.asker == "dora"
    assert result.missing == ["silent"]
    assert 1.0 <= took < 5.0
    # The silent specialist's stored knowledge still counts, from its memories.
    sources = {(a.agent, a.source) for a in result.answers}
    assert ("silent", "memory") in sources and ("quick", "live") in sources
    # Too late now: the ask is closed.
    with pytest.raises(ServerError) as refused:
        await silent.answer(question, "02:00")
    assert refused.value.code == ErrorCode.NOT_FOUND


async def test_an_ask_finishes_once_enough_answers_know_or_when_the_asker_says(
    connect: ClientFactory,
) -> None:
    knower = await connect("knower")
    await store(knower, "Backups of the wiki run nightly at 02:00")
    await knower.close()
    silent = await connect("silent", capabilities=(ANSWERS_CAPABILITY,))
    await store(silent, "The wiki backups are kept for 30 days on the NAS")
    asker = await connect("dora")
    await answering_sessions(asker, "silent")
    loop = asyncio.get_running_loop()

    # knower's stored answer is enough: silent, asked live, is not waited for.
    began = loop.time()
    result = await asker.ask_and_wait("When do the wiki backups run?", timeout=30, enough=1)
    assert loop.time() - began < 10
    assert result.missing == ["silent"]
    assert any(a.agent == "knower" and a.knows for a in result.answers)

    # Nobody has answered yet, and the asker takes what there is.
    events = asker.ask("How long are the wiki backups kept?", timeout=30, agents=["silent"])
    started = await anext(events)
    assert isinstance(started, AskStarted)
    while (await asyncio.wait_for(silent.questions.get(), 5)).ask != started.ask:
        pass  # the first ask's question
    with pytest.raises(ServerError) as refused:
        await silent.finish_ask(started.ask)  # only the asker may
    assert refused.value.code == ErrorCode.NOT_FOUND
    began = loop.time()
    await asker.finish_ask(started.ask)
    finished = await asyncio.wait_for(anext(events), 5)
    while not isinstance(finished, AskResult):  # silent's memories answer for it first
        finished = await asyncio.wait_for(anext(events), 5)
    assert loop.time() - began < 5
    assert finished.missing == ["silent"]
    assert [a.source for a in finished.answers if a.agent == "silent"] == ["memory"]
    with pytest.raises(ServerError) as ended:
        await asker.finish_ask(started.ask)
    assert ended.value.code == ErrorCode.NOT_FOUND


async def test_an_asker_who_leaves_cancels_the_ask(connect: ClientFactory) -> None:
    slow = await connect("slow", capabilities=(ANSWERS_CAPABILITY,))
    await store(slow, "The release train leaves on Thursdays")
    asker = await connect("dora")
    await answering_sessions(asker, "slow")

    async def ask() -> None:
        async for _ in asker.ask("When does the release train leave?", timeout=30):
            pass

    asking = asyncio.create_task(ask())
    question: Question = await asyncio.wait_for(slow.questions.get(), 5)
    await asker.close()
    with pytest.raises(ConnectionLost):  # the client closed under the ask
        await asking
    for _ in range(50):
        try:
            await slow.answer(question, "Thursdays")
        except ServerError as refused:
            assert refused.code == ErrorCode.NOT_FOUND
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the ask stayed open after its asker left")
    assert await slow.asks() == []  # nothing stored for a cancelled ask


async def reputation_worked_out(server: Server) -> None:
    """Work reputation out now, as the server does every ``reputation_every`` seconds: learned
    skills weigh their raters' trust, so they are worked out with it."""
    assert server.hub is not None and server.standing is not None
    await server.standing.refresh()
    server.hub.directory.store.forget_history()


async def test_feedback_teaches_who_knows_what(
    server: Server, make_agent: AgentFactory, connect: ClientFactory, tmp_path: Path
) -> None:
    amy = await specialist(server, make_agent, tmp_path, "amy", "python")
    ben = await specialist(server, make_agent, tmp_path, "ben", "python")
    try:
        for running in (amy, ben):
            await running.runtime.learn(
                MemoryRecord(ai=running.runtime.config.name, content="Python wheels are zip files")
            )
        asker = await connect("dora")
        await answering_sessions(asker, "amy", "ben")
        first = await asker.ask_and_wait("What is a python wheel?", max_specialists=1)
        assert [s.agent for s in first.specialists] == ["amy"]  # a tie, broken by name
        # ben is asked by name and does well.
        for _ in range(2):
            named = await asker.ask_and_wait("What is a python wheel?", agents=["ben"])
            [bens] = [a for a in named.answers if a.agent == "ben"]
            await asker.rate(named.ask, bens.id, "accept")
        await reputation_worked_out(server)
        second = await asker.ask_and_wait("What is a python wheel?", max_specialists=1)
    finally:
        await amy.end()
        await ben.end()
    assert [s.agent for s in second.specialists] == ["ben"]
    assert second.specialists[0].why["learned_skill"] > 0
    [ben_profile] = await asker.who(skill="python", text="ben")
    [learned] = ben_profile.learned_skills
    assert (learned.topic, learned.accepted) == ("python", 2)
    listed = {a.ask: a for a in await asker.asks()}
    assert listed[named.ask].answers[0].feedback == {"accept": 1}
    card = await asker.card("ben")
    assert [s["id"] for s in card["skills"]] == ["python"]
    assert card["skills"][0]["examples"] == ["What is a python wheel?"]


async def test_own_asks_search_only_ones_own_past_sessions(connect: ClientFactory) -> None:
    other = await connect("other")
    await store(other, "The VPN gateway is vpn.example.org")
    me = await connect("me")
    await store(me, "My VPN profile lives in ~/vpn/me.ovpn", session="me-last-week")
    result = await me.ask_and_wait("Where is the VPN?", own=True, timeout=2)
    assert [(s.agent, s.live) for s in result.specialists] == [("me", False)]
    assert [(a.agent, a.session) for a in result.answers] == [("me", "me-last-week")]


async def test_bad_ask_requests_get_typed_errors(connect: ClientFactory) -> None:
    client = await connect("dora")
    with pytest.raises(ServerError) as unknown:
        await client.rate(
            "01a20000-0000-7000-8000-000000000000", "01a20000-0000-7000-8000-000000000001", "up"
        )
    assert unknown.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ServerError) as card:
        await client.card("nobody")
    assert card.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ServerError) as stray:
        await client.answer(
            Question(
                ask="01a20000-0000-7000-8000-000000000000",
                question="?",
                asker="x",
                deadline=DAY_AGO,
            ),
            "an answer nobody asked for",
        )
    assert stray.value.code == ErrorCode.NOT_FOUND
    assert await client.ping() > 0  # and the connection goes on


async def test_skills_declared_when_an_agent_starts_join_the_directory(
    server: Server, make_agent: AgentFactory, connect: ClientFactory, tmp_path: Path
) -> None:
    _, token = await make_agent("erin", skills=["python"])
    config = AgentConfig("erin", token, server.url, "edge", tmp_path / "erin", skills=("rust",))
    running = Running(AgentRuntime(config, RecallBrain()))
    await running.until_connected()
    try:
        asker = await connect("dora")
        [erin] = await asker.who(skill="rust")
        assert erin.name == "erin" and erin.skills == ["python", "rust"] and erin.online
    finally:
        await running.end()


async def test_heavy_work_goes_to_the_capable_device_first_and_fails_over(
    connect: ClientFactory,
) -> None:
    big_gpu = DeviceProfile(gpu="RTX 4090", gpu_memory_gb=24, tokens_per_second=90)
    small_gpu = DeviceProfile(gpu="Orin", gpu_memory_gb=8, tokens_per_second=12)
    laptop = await connect(
        "laptop", capabilities=(ANSWERS_CAPABILITY,), skills=("python",), profile=big_gpu
    )
    jetson = await connect(
        "jetson", capabilities=(ANSWERS_CAPABILITY,), skills=("python",), profile=small_gpu
    )
    asker = await connect("dora")
    await answering_sessions(asker, "laptop", "jetson")

    # Light work: both are asked at once; the edge device may answer it.
    light = asyncio.create_task(
        asker.ask_and_wait("What is a python wheel?", complexity=0.1, timeout=1)
    )
    for device in (laptop, jetson):
        await device.answer(await asyncio.wait_for(device.questions.get(), 5), "A zip file.")
    routing = (await light).routing
    assert routing is not None and not routing.heavy and set(routing.first) == {"laptop", "jetson"}

    # Heavy work: the laptop first; it stays silent, so the question fails over to the jetson.
    heavy = asyncio.create_task(
        asker.ask_and_wait(
            "Design and compare a python asyncio worker pool against threads", timeout=2
        )
    )
    await asyncio.wait_for(laptop.questions.get(), 5)
    assert jetson.questions.empty()
    question = await asyncio.wait_for(jetson.questions.get(), 5)  # after a share of the time
    await jetson.answer(question, "Asyncio for I/O-bound work, threads for blocking calls.")
    result = await heavy
    routing = result.routing
    assert routing is not None and routing.heavy and routing.estimated
    assert routing.complexity >= 0.6
    assert (routing.first, routing.fallback, routing.failovers) == (
        ["laptop"],
        ["jetson"],
        ["jetson"],
    )
    assert routing.capacity["laptop"] > routing.capacity["jetson"]
    assert result.missing == ["laptop"]
    assert [(a.agent, a.source) for a in result.answers] == [("jetson", "live")]


async def test_a_model_writes_the_summary_when_the_server_has_one(
    settings: Settings, make_agent: AgentFactory
) -> None:
    from tests.fake_ollama import CHAT_MODEL, FakeOllama

    with FakeOllama() as fake:
        fake.script(lambda body: "Keep a reference to each task (carol).")
        configured = settings.with_(summarizer=f"ollama:{CHAT_MODEL}@{fake.url}")
        async with Server(configured) as server:
            _, carol_token = await make_agent("carol")
            _, dora_token = await make_agent("dora")
            async with Client(server.url, "carol", carol_token) as carol:
                await store(carol, ASYNCIO_FACT, session="carol-earlier")
            async with Client(server.url, "dora", dora_token) as dora:
                written = await dora.ask_and_wait("Why do asyncio tasks get garbage collected?")
                fake.down()  # the model is away: the ask still ends, with an extractive summary
                fallback = await dora.ask_and_wait("Why do asyncio tasks get garbage collected?")
        [request] = fake.bodies("/api/chat")
    assert (written.summary, written.summary_by) == (
        "Keep a reference to each task (carol).",
        f"ollama:{CHAT_MODEL}",
    )
    shown = request["messages"][-1]["content"]
    assert "Why do asyncio tasks" in shown and ASYNCIO_FACT in shown and "carol" in shown
    assert fallback.summary_by == "extractive" and "(carol)" in fallback.summary
