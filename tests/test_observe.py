"""Watching a server from outside, over real HTTP: ``/metrics`` counts what agents did (and
parses as Prometheus text), ``/healthz`` answers while the process lives, ``/readyz`` says
503 while the database or Redis is away and 200 once it is back, and a server asked for JSON
logs writes nothing but JSON lines."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.errors import CloudBrainError
from cloudbrain.identity import create_agent
from cloudbrain.logs import JsonFormatter, check
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import AgentFactory, ClientFactory
from tests.fault_proxy import postgres_through
from tests.processes import ServerProcess, cli_env
from tests.services import redis_process
from tests.test_agent_process import stop, until_online

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a labelled series not seen yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def until(
    http: httpx.AsyncClient, holds: Callable[[Samples], bool], seconds: float = 10.0
) -> Samples:
    """Scrape until ``holds`` says yes (acks, for one, are written a moment after they come)."""
    for _ in range(int(seconds / 0.05)):
        samples = await scrape(http)
        if holds(samples):
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"never held; last scrape: {samples}")


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        yield client


async def test_metrics_count_what_agents_did(
    http: httpx.AsyncClient, connect: ClientFactory, make_agent: AgentFactory
) -> None:
    _, bob_token = await make_agent("bob")
    alice = await connect("alice")
    before = await scrape(http)
    assert value(before, "cloudbrain_node_info", node="test-node") == 1
    assert value(before, "cloudbrain_connections") == 1
    assert value(before, "cloudbrain_sessions") == 1

    # Three messages while bob is away: stored and pending, then replayed when he comes.
    for i in range(3):
        await alice.send("bob", f"while away {i}")
    away = await scrape(http)
    assert (
        value(away, "cloudbrain_messages_pending")
        == value(before, "cloudbrain_messages_pending") + 3
    )

    def moved(now: Samples, name: str, **labels: str) -> float:
        return value(now, name, **labels) - value(before, name, **labels)

    assert moved(away, "cloudbrain_messages_accepted_total", kind="direct") == 3
    assert moved(away, "cloudbrain_messages_delivered_total", path="replay") == 0

    bob = await connect("bob", token=bob_token)
    for _ in range(3):
        bob.ack(await bob.receive(timeout=5))
    for i in range(2):
        await alice.send("bob", f"live {i}")
    for _ in range(2):
        bob.ack(await bob.receive(timeout=5))
    with pytest.raises(Exception, match="no agent named"):
        await alice.send("nobody", "lost")
    result = await alice.ask_and_wait("How do I bake banana bread?", timeout=2)
    assert result.nobody_knows
    await alice.recall("banana bread")

    now = await until(http, lambda s: moved(s, "cloudbrain_messages_acked_total") >= 5)
    assert moved(now, "cloudbrain_messages_acked_total") == 5
    assert moved(now, "cloudbrain_messages_accepted_total", kind="direct") == 5
    assert moved(now, "cloudbrain_messages_delivered_total", path="replay") == 3
    assert moved(now, "cloudbrain_messages_delivered_total", path="live") == 2
    assert value(now, "cloudbrain_messages_pending") == value(before, "cloudbrain_messages_pending")
    assert value(now, "cloudbrain_connections") == 2
    assert value(now, "cloudbrain_sessions") == 2
    assert moved(now, "cloudbrain_errors_total", code="unknown_recipient") == 1
    assert moved(now, "cloudbrain_asks_total", outcome="nobody_knows") == 1
    assert moved(now, "cloudbrain_ask_seconds_count") == 1
    assert moved(now, "cloudbrain_recall_seconds_count") == 1
    # Every message and every ack went through a committed batch, timed.
    assert moved(now, "cloudbrain_write_batch_size_sum") == 5 + 5
    batches = moved(now, "cloudbrain_write_batch_size_count")
    assert 1 <= batches <= 10
    assert moved(now, "cloudbrain_write_commit_seconds_count") == batches
    assert value(now, "cloudbrain_write_commit_seconds_sum") > 0

    await bob.close()
    await until(
        http,
        lambda s: value(s, "cloudbrain_sessions") == 1 and value(s, "cloudbrain_connections") == 1,
    )


async def test_each_server_counts_its_own(settings: Settings, make_agent: AgentFactory) -> None:
    """Two servers in one process: metrics of one do not show in the other's."""
    _, token = await make_agent("alice")
    async with (
        Server(settings.with_(node="one")) as one,
        Server(settings.with_(node="two", spool=False)) as two,
        httpx.AsyncClient(timeout=10) as http,
    ):
        async with Client(one.url, "alice", token, timeout=5) as alice:
            await alice.send("alice", "to myself")
        first = parse((await http.get(f"{one.http_url}/metrics")).text)
        second = parse((await http.get(f"{two.http_url}/metrics")).text)
    assert value(first, "cloudbrain_messages_accepted_total", kind="direct") == 1
    assert value(second, "cloudbrain_messages_accepted_total", kind="direct") == 0
    assert value(second, "cloudbrain_node_info", node="two") == 1
    assert ("cloudbrain_node_info", frozenset({("node", "one")})) not in second


async def test_health_answers_anyone_and_metrics_follow_the_read_policy(
    settings: Settings, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    async with (
        Server(settings.with_(http_reads="nobody")) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
    ):
        health = await http.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
        closed = await http.get("/metrics")
        assert closed.status_code == 401
        assert closed.json()["error"]["code"] == "auth_failed"
        opened = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert opened.status_code == 200
        assert value(parse(opened.text), "cloudbrain_connections") == 0
        # Not part of Familio's REST API.
        paths = await http.get("/openapi.json", headers={"Authorization": f"Bearer {token}"})
        assert not {"/healthz", "/readyz", "/metrics"} & set(paths.json()["paths"])


@pytest.mark.postgres
async def test_readyz_says_when_the_database_is_away_and_when_it_is_back(
    postgres_url: str, tmp_path: Path
) -> None:
    proxy, through_proxy = await postgres_through(postgres_url)
    settings = Settings(
        home=tmp_path,
        database_url=through_proxy,
        port=0,
        smtp=False,
        http_port=0,
        node="ready",
    )
    try:
        async with (
            Server(settings) as server,
            httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
        ):
            assert (await http.get("/readyz")).status_code == 200
            proxy.cut()
            away = await http.get("/readyz")
            assert away.status_code == 503, away.text
            assert away.json()["status"] == "unavailable"
            assert set(away.json()["failed"]) == {"database"}
            assert (await http.get("/healthz")).status_code == 200
            # The metrics still answer, without the count the database would give.
            assert (await http.get("/metrics")).status_code == 200
            proxy.restore()
            for _ in range(100):
                back = await http.get("/readyz")
                if back.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (back.status_code, back.json()) == (200, {"status": "ok"})
    finally:
        await proxy.stop()


@pytest.mark.postgres
async def test_a_cluster_node_counts_redis_traffic_and_is_unready_without_redis(
    postgres_url: str, tmp_path: Path
) -> None:
    redis = redis_process(tmp_path / "redis").start()
    engine = create_engine(postgres_url)
    _, token = await create_agent(engine, "alice")
    await engine.dispose()
    settings = Settings(
        home=tmp_path / "node",
        database_url=postgres_url,
        port=0,
        smtp=False,
        http_port=0,
        node="node-a",
        redis_url=redis.redis_url,
    )
    try:
        async with (
            Server(settings) as server,
            httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
        ):
            before = await scrape(http)
            assert value(before, "cloudbrain_cluster_redis_up") == 1
            async with Client(server.url, "alice", token, timeout=5):
                # Its presence goes out on Redis, and comes back to this node too.
                now = await until(
                    http,
                    lambda s: (
                        value(s, "cloudbrain_cluster_received_total", channel="presence")
                        > value(before, "cloudbrain_cluster_received_total", channel="presence")
                    ),
                )
            assert value(now, "cloudbrain_cluster_sent_total", channel="presence") >= 1
            assert value(now, "cloudbrain_cluster_sent_total", channel="sessions") >= 1
            assert (await http.get("/readyz")).status_code == 200

            redis.stop()
            away = await http.get("/readyz")
            assert away.status_code == 503, away.text
            assert set(away.json()["failed"]) == {"redis"}
            await until(http, lambda s: value(s, "cloudbrain_cluster_redis_up") == 0)

            redis.start()
            for _ in range(100):
                back = await http.get("/readyz")
                if back.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert back.status_code == 200, back.text
    finally:
        redis.stop()


def test_the_server_logs_json_lines_when_asked(db_url: str, tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path,
        db_url,
        extra_env={"CLOUDBRAIN_LOG_FORMAT": "json", "CLOUDBRAIN_LOG_LEVEL": "DEBUG"},
    )
    with server:
        pass
    lines = server.output().splitlines()
    assert len(lines) > 3, server.output()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    assert any(e["level"] == "DEBUG" for e in entries)
    assert any("listening on" in e["message"] for e in entries)
    assert any(e["message"] == "CloudBrain server stopped" for e in entries)


def run_agent(home: Path, url: str, token: str, level: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudbrain",
            "agent",
            "run",
            "alice",
            "--brain",
            "recall",
            "--device",
            "laptop",
            "--log-format",
            "json",
            "--log-level",
            level.lower(),
        ],
        env=cli_env(home, CLOUDBRAIN_URL=url, CLOUDBRAIN_TOKEN=token),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("level", ["DEBUG", "WARNING"])
async def test_agent_run_takes_a_log_level_and_format(tmp_path: Path, level: str) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cloudbrain.db'}"
    with ServerProcess(tmp_path, db_url, extra_env={"CLOUDBRAIN_SMTP": "false"}) as server:
        engine = create_engine(db_url)
        tokens = {name: (await create_agent(engine, name))[1] for name in ("alice", "watcher")}
        await engine.dispose()
        agent = run_agent(tmp_path / "agent", server.url, tokens["alice"], level)
        try:
            async with Client(server.url, "watcher", tokens["watcher"], timeout=5) as watcher:
                await until_online(watcher, "alice", "laptop")
        finally:
            output = stop(agent)
    entries = [json.loads(line) for line in output.splitlines()]  # every line is JSON
    levels = {e["level"] for e in entries}
    if level == "DEBUG":
        assert "DEBUG" in levels and "INFO" in levels, output
    else:
        assert levels <= {"WARNING", "ERROR", "CRITICAL"}, output


def test_a_json_line_keeps_the_exception_and_odd_text_inside() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord(
            "cloudbrain.test", logging.ERROR, __file__, 1, 'said "%s"', ("é\n",), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == 'said "é\n"'
    assert entry["level"] == "ERROR" and entry["logger"] == "cloudbrain.test"
    assert "ValueError: bad" in entry["exception"] and "Traceback" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_unknown_log_levels_and_formats_are_refused_naming_the_choices() -> None:
    assert check("debug", "JSON") == (logging.DEBUG, "json")
    with pytest.raises(CloudBrainError) as level:
        check("chatty", "text")
    assert "DEBUG" in (level.value.hint or "")
    with pytest.raises(CloudBrainError) as format:
        check("INFO", "yaml")
    assert "json" in (format.value.hint or "")
