"""The idle-agents half of ``bench.cluster`` (its docstring says what is measured): agents
made in bulk, load-generator processes that each hold a share of the idle WebSocket
connections (raw ``websockets``, not ``Client``: 10,000 ``Client`` objects would cost this side
more than the server), and the probe of the node with all of them connected."""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from bench.cluster_nodes import cluster, log_lines
from bench.counting import CpuMeter, process_cpu_seconds
from bench.progress import progress
from bench.recall import summarize
from bench.servers import fresh_postgres
from cloudbrain.db import create_engine, upgrade
from cloudbrain.db.models import agents, sessions
from cloudbrain.db.types import utcnow
from cloudbrain.identity import hash_token, new_token
from cloudbrain.ids import new_id
from tests.processes import START_SECONDS, ServerProcess

OPEN_TIMEOUT = 60.0  # a handshake and welcome, with thousands of others in the queue
ROWS_PER_INSERT = 2000
IDLE_CPU = 0.05  # of a core over a second: the node has finished what connecting started
SETTLE_SECONDS = 60.0
ANSWER_SECONDS = 30.0  # for a pong or a roster with all connected
PINGS = 20
PROBE = "probe"


@dataclass(frozen=True)
class IdleParams:
    agents: int
    procs: int  # load-generator processes
    at_once: int  # handshakes in flight per process
    hold: float  # seconds all sit idle before the probe
    max_seconds: float  # for the connecting


async def bulk_agents(db_url: str, names: list[str]) -> dict[str, str]:
    """Register the agents in a few multi-row INSERTs (``create_agent`` does one transaction
    per agent); returns name -> token."""
    tokens = {name: new_token() for name in names}
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "name": name,
            "description": "",
            "skills": [],
            "token_hash": hash_token(token),
            "created_at": now,
            "revoked_at": None,
        }
        for name, token in tokens.items()
    ]
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            for i in range(0, len(rows), ROWS_PER_INSERT):
                await conn.execute(agents.insert(), rows[i : i + ROWS_PER_INSERT])
    finally:
        await engine.dispose()
    return tokens


def hello(name: str, token: str) -> str:
    return json.dumps({"v": 1, "type": "hello", "id": "h", "name": name, "token": token})


async def open_agent(url: str, name: str, token: str) -> ClientConnection:
    """One connection that said hello and got its welcome. No keepalive pings from this side
    (the server sends its own, which websockets answers without any task of ours)."""
    ws = await connect(url, compression=None, ping_interval=None, open_timeout=OPEN_TIMEOUT)
    try:
        await ws.send(hello(name, token))
        frame = json.loads(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
    except BaseException:
        await ws.close()
        raise
    if frame.get("type") != "welcome":
        await ws.close()
        raise RuntimeError(f"no welcome: {frame}")
    return ws


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS), from /proc."""
    return _status_kib(pid, "VmRSS") * 1024


def peak_rss_bytes(pid: int) -> int:
    return _status_kib(pid, "VmHWM") * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise ValueError(f"no {field} in /proc/{pid}/status")


def hold(url: str, pairs: list[tuple[str, str]], at_once: int, pipe: Connection) -> None:
    """A load-generator process (the target of ``multiprocessing``): say ready, wait for "go",
    open every connection (``at_once`` handshakes in flight), report, hold them (answering
    the node's pings and, when it stops, its closing handshakes), report how many are still
    open, then, once the node was stopped, how each connection was closed."""
    asyncio.run(_hold(url, pairs, at_once, pipe))


async def _hold(url: str, pairs: list[tuple[str, str]], at_once: int, pipe: Connection) -> None:
    pipe.send("ready")
    await asyncio.to_thread(pipe.recv)  # "go"
    started, cpu0 = time.perf_counter(), time.process_time()
    slots = asyncio.Semaphore(at_once)
    errors: list[str] = []
    welcomes: list[float] = []  # when each welcome came (perf_counter: one clock machine-wide)

    async def one(name: str, token: str) -> ClientConnection | None:
        async with slots:
            try:
                ws = await open_agent(url, name, token)
                welcomes.append(time.perf_counter())
                return ws
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return None

    opened = await asyncio.gather(*(one(name, token) for name, token in pairs))
    held = [ws for ws in opened if ws is not None]
    report: dict[str, Any] = {
        "wanted": len(pairs),
        "welcomed": len(held),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu0, 2),
    }
    pipe.send((report, welcomes))
    await asyncio.to_thread(pipe.recv)  # "count"
    pipe.send({"still_open": sum(ws.state is State.OPEN for ws in held)})
    await asyncio.to_thread(pipe.recv)  # "done": the node was stopped meanwhile
    await asyncio.sleep(1.0)  # for the last closing handshakes
    pipe.send({"close_codes": dict(Counter(str(ws.close_code) for ws in held))})


# --- the run (in the benchmark's own process) ------------------------------------------------


def _recv(pipe: Connection, seconds: float) -> Any:
    if not pipe.poll(seconds):
        raise TimeoutError(f"no word from a load-generator process in {seconds:g}s")
    return pipe.recv()


async def settle(pid: int) -> float:
    """Wait (up to SETTLE_SECONDS) for a second in which the process used under IDLE_CPU of a
    core; returns how long that took."""
    started = time.perf_counter()
    while time.perf_counter() - started < SETTLE_SECONDS:
        before = process_cpu_seconds(pid) or 0.0
        await asyncio.sleep(1.0)
        if (process_cpu_seconds(pid) or 0.0) - before < IDLE_CPU:
            break
    return round(time.perf_counter() - started, 1)


async def open_sessions(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(sessions).where(sessions.c.ended_at.is_(None))
            return int(await conn.scalar(query) or 0)
    finally:
        await engine.dispose()


async def probe(url: str, token: str) -> dict[str, Any]:
    """A new connection with all the idle ones open: its welcome, pings, and one ``who``
    (filtered to one agent: the full roster of 10,000 is another benchmark)."""
    started = time.perf_counter()
    ws = await open_agent(url, PROBE, token)
    out: dict[str, Any] = {"welcome_ms": round((time.perf_counter() - started) * 1000, 2)}
    try:
        rtts = []
        for i in range(PINGS):
            started = time.perf_counter()
            await ws.send(json.dumps({"v": 1, "type": "ping", "id": f"p{i}"}))
            answer = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_SECONDS))
            if answer.get("re") == f"p{i}":
                rtts.append((time.perf_counter() - started) * 1000)
        out["pongs"] = len(rtts)
        out["ping"] = summarize(rtts) if rtts else None
        started = time.perf_counter()
        await ws.send(json.dumps({"v": 1, "type": "who", "id": "w", "text": PROBE}))
        roster = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_SECONDS))
        out["who_ms"] = round((time.perf_counter() - started) * 1000, 2)
        out["who_answered"] = roster.get("type") == "roster"
    finally:
        await ws.close()
    return out


async def bench_idle(params: IdleParams, postgres: str, workdir: Path) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="idle-", dir=workdir))
    out: dict[str, Any] = {
        "wanted": params.agents,
        "procs": params.procs,
        "at_once": params.at_once,
    }
    async with fresh_postgres(postgres) as db_url:
        await asyncio.to_thread(upgrade, db_url)
        names = [f"idle-{i:05d}" for i in range(params.agents)]
        started = time.perf_counter()
        tokens = await bulk_agents(db_url, [*names, PROBE])
        out["agents_seconds"] = round(time.perf_counter() - started, 2)
        progress(f"idle: {len(tokens):,} agents inserted in {out['agents_seconds']}s")
        with cluster(home, db_url, 1, True) as (server,):
            await settle(server.pid)
            out["rss_before"] = rss_bytes(server.pid)
            ctx = multiprocessing.get_context("spawn")  # a fresh interpreter, no loop inherited
            pipes, workers = [], []
            for k in range(params.procs):
                share = [(name, tokens[name]) for name in names[k :: params.procs]]
                mine, theirs = ctx.Pipe()
                worker = ctx.Process(target=hold, args=(server.url, share, params.at_once, theirs))
                worker.start()
                pipes.append(mine)
                workers.append(worker)
            try:
                await _connect_and_hold(params, server, db_url, pipes, tokens[PROBE], out)
            finally:
                for worker in workers:
                    worker.join(10)
                    if worker.is_alive():
                        worker.terminate()
    out["log"] = log_lines([server])[:20]  # stopped: with what it logged on the way out
    p = out["probe"]
    out["checks"] = {
        "all_welcomed": out["welcomed"] == params.agents,
        "sessions_in_db": out["open_sessions_in_db"] == out["welcomed"],
        "still_open": out["still_open"] == out["welcomed"],
        "probe_answered": p["pongs"] == PINGS and p["who_answered"],
    }
    out["checks"]["ok"] = all(out["checks"].values())
    return out


async def _connect_and_hold(
    params: IdleParams,
    server: ServerProcess,
    db_url: str,
    pipes: list[Connection],
    probe_token: str,
    out: dict[str, Any],
) -> None:
    """Start the load generators together, then measure: connecting, settled, idle, probe."""
    pid = server.pid
    for pipe in pipes:
        await asyncio.to_thread(_recv, pipe, START_SECONDS)  # "ready": imported, waiting
    cpu0, started = process_cpu_seconds(pid) or 0.0, time.perf_counter()
    for pipe in pipes:
        pipe.send("go")
    answers = [await asyncio.to_thread(_recv, pipe, params.max_seconds) for pipe in pipes]
    seconds = time.perf_counter() - started
    reports = [report for report, _ in answers]
    # Welcomes per second over each tenth of the connections: does the node slow as it fills?
    times = sorted(t for _, welcomes in answers for t in welcomes)
    marks = [started] + [times[len(times) * k // 10 - 1] for k in range(1, 11)] if times else []
    tenth = len(times) / 10
    out["per_s_by_tenth"] = [round(tenth / max(b - a, 1e-9)) for a, b in itertools.pairwise(marks)]
    out["connect_seconds"] = round(seconds, 2)
    out["server_cpu_connecting"] = round(((process_cpu_seconds(pid) or 0.0) - cpu0) / seconds, 2)
    out["workers"] = reports
    out["welcomed"] = sum(r["welcomed"] for r in reports)
    out["errors"] = sum(r["errors"] for r in reports)
    out["first_error"] = next((r["first_error"] for r in reports if r["errors"]), None)
    out["per_s"] = round(out["welcomed"] / seconds)
    progress(f"idle: {out['welcomed']:,} welcomed in {seconds:.1f}s; settling…")
    out["settle_seconds"] = await settle(pid)
    out["rss_after"] = rss_bytes(pid)
    out["rss_peak"] = peak_rss_bytes(pid)
    out["bytes_per_connection"] = round(
        (out["rss_after"] - out["rss_before"]) / max(1, out["welcomed"])
    )
    out["open_sessions_in_db"] = await open_sessions(db_url)
    progress(f"idle: RSS {out['rss_after'] / 2**20:,.0f} MiB; holding them {params.hold:g}s…")
    cpu = CpuMeter(pid)
    cpu.begin()
    await asyncio.sleep(params.hold)
    cpu.end()
    out["server_cpu_idle"] = cpu.read()[0]
    out["probe"] = await probe(server.url, probe_token)
    for pipe in pipes:
        pipe.send("count")
    still = [await asyncio.to_thread(_recv, pipe, ANSWER_SECONDS) for pipe in pipes]
    out["still_open"] = sum(s["still_open"] for s in still)
    # Stopping the node with all of them connected: it closes each with 1001 (going away).
    # From a thread, as this loop has nothing to answer; after STOP_SECONDS it is SIGKILLed.
    started = time.perf_counter()
    out["exit_code"] = await asyncio.to_thread(server.stop)  # -9: killed
    out["stop_seconds"] = round(time.perf_counter() - started, 1)
    for pipe in pipes:
        pipe.send("done")
    closed: Counter[str] = Counter()
    for pipe in pipes:
        closed.update((await asyncio.to_thread(_recv, pipe, ANSWER_SECONDS))["close_codes"])
    out["close_codes"] = dict(closed)
