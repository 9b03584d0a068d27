"""How long asking the family takes with 10 and 100 connected specialists and 100k memories,
next to a plain recall on the same server.

    python -m bench.ask                     # about 15 minutes with the defaults, on 2 cores
                                            # (7 more when the memories' vectors are not cached)
    python -m bench.ask --no-postgres --memories 10000 --asks 50 --json-only > result.json

The family (``bench.ask_family``, from a seed): ``max(--specialists)`` specialists, each
declaring ``--skills`` skills drawn from the services, data stores and tools of
``bench.recall_corpus``, and the 20 past AIs of that corpus, registered but never connected
(known only by the memories of their ended sessions). ``--memories`` synthetic memories of the
corpus are given owners: a memory that mentions a specialist's skill may be that specialist's,
until the specialists hold ``--specialist-share`` of all memories between them, evenly; the
past AIs hold the rest. Each backend gets the same family and memories: SQLite (a temporary
file) and PostgreSQL (a fresh database made on the ``--postgres`` server and dropped after;
``--no-postgres`` skips it). Everything embeds with ``--embedder``: by default ``onnx:minilm``,
the shipped model, the default of the server and of the agents (``hashing`` is the built-in
fallback); the server gets it as ``CLOUDBRAIN_EMBEDDER`` and each specialist as its
``AgentConfig.embedder``. The vectors of the memories (the ones the server would compute) are
computed once for all backends by ``bench.embedder``: each distinct text once, in
``--embed-workers`` processes of one onnxruntime thread each (100k memories, 75k distinct texts:
minutes with the model on 2 cores), and kept in ``--vector-cache`` for the next run
(``bench.recall`` uses the same corpus and cache); ``vectors`` says how many were computed and
how fast. The memories are stored straight into the database before the server starts (on
PostgreSQL with an ANALYZE after the first 10k and one at the end), each checked to have a
vector of the server's embedder (any other the server would embed again in the background while
asks are timed), and each specialist's device folder is made holding its own memories, as its
first sync would leave it, so the specialists start without pulling them through the server
(the sync at start is not what is measured, and it would take a minute per backend).

Three processes per backend, so that the server has a core of its own as it would in a
deployment (one process would put the server, every agent and the timing client on one core):

- the server: ``cloudbrain server`` on that database (rate limits out of the way, as in
  ``bench.relay``); it loads its vector index of every memory at start;
- the specialists (``bench.ask_agents``): real ``AgentRuntime``s with the ``RecallBrain``, each
  with its own device folder (local memory file) and its own WebSocket connection that takes
  questions, all in one process. While connected each syncs with the server every 10 s and
  saves its brain state after answering, as agents do. In a deployment they would be on
  machines of their own; here they share the other core, so the live answers to one ask are
  computed one after the other (``agents.answer_ms`` says how long each took, from taking the
  question to the server's ok for the answer; waiting behind other agents is not in it);
- this process: the asker, one ``Client``, asking one question at a time.

For each number of ``--specialists``, smallest first, the first N specialists are connected
(the rest of the family stays offline, like the past AIs). Uncounted: every connected
specialist is asked by name once (its first answer opens its memory's vector index and
compiles its statements), and ``--warmup`` questions are asked and recalled. Then the stored
ask history is emptied (so learned skills start from nothing in every scenario) and ``--asks``
questions are timed. Questions are the keyword questions of ``bench.recall_corpus`` (e.g. "who
owns billing", "restart checkout staging"), so most name a skill some specialists declared. Each question is asked (``Client.ask``, ``max_specialists`` and
``timeout`` as given), and then recalled as the baseline, one after the other, so both run
under the same conditions:

- ``ask``: from sending ``ask`` to receiving ``ask_result``, client side. ``phases_ms`` splits
  its mean: ``choose`` (to ``ask_started``: the directory's profiles, the memory search that
  weighs each AI's knowledge, selection), ``answers`` (to the last ``ask_answer``: live answers
  and answers from memories) and ``finish`` (to ``ask_result``: ranking and storing the ask);
  ``server_ms`` is the ask's own ``seconds``. ``per_ask`` gives the mean number of specialists
  chosen, chosen live, answers live (and of those, answers that knew something: quoted the
  specialist's memories) and from memories, and the topics found; then, over all asks, the
  specialists ``missing`` (live but not in time), failovers, and asks with no answer at all.
  ``drift`` compares the p50 of the first and second half of the asks (the ask history and the
  brain states grow as it runs). With ``--asks`` 100, p99 is the second slowest ask: pass more
  for a steadier tail.
- ``recall``: ``Client.recall`` of the same question (limit 5): the memory search an ask is built
  on, with one round trip, on the same server, data and connections. ``ratio`` is ask over
  recall, of p50, p99 and mean.

``cpu`` gives the CPU time of the server, the specialists and this process (``bench``) over the
measured asks and recalls, as fractions of one core: one near 1.0 was the bottleneck (the server
can pass 1.0: SQLite and the vector index work in threads). ``machine`` is every core's busy
time, and ``rest`` the machine's less those three: on PostgreSQL mostly the database, otherwise
whatever else ran (``machine.load_average_*`` tell too).

Reading the result: ``target`` holds the p99 of ``ask`` with 100 connected specialists (recall
brains only) against the project's 200 ms, per backend; it applies at 100k memories with the
shipped model (``onnx:minilm``).
``machine.load_average_*`` tell whether something else was using the CPUs meanwhile.
``source`` names the commit measured. ``--profile DIR`` runs each server under cProfile and
leaves its stats in DIR (read them with ``python -m pstats``; cProfile sees the event loop's
thread only, not the threads where SQLite runs and vectors are compared). Progress lines and a table go to stderr, the JSON document to stdout.
The run stops after ``--max-seconds``, printing what it measured so far with
``"complete": false``, and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import ask_family, recall_corpus
from bench import embedder as bench_embedder
from bench.ask_agents import AgentsProcess, Member, prepare_devices, synced_up_to
from bench.counting import process_cpu_seconds
from bench.progress import (
    add_postgres_options,
    add_run_options,
    number,
    positive,
    progress,
    set_quiet,
)
from bench.recall import (
    database,
    percentile,
    run_and_report,
    store_all,
    summarize,
    versions,
)
from bench.servers import ROOT, hub
from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import ask_answers, asks, feedback, memories
from cloudbrain.identity import create_agent
from cloudbrain.memory.embedding import make_embedder
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.reembed import pending
from cloudbrain.memory.store import MemoryStore
from cloudbrain.protocol import AskAnswered, AskResult, AskStarted

ASKER = "bench-asker"
RECALL_LIMIT = 5  # the client's default
TARGET_SPECIALISTS = 100
TARGET_MEMORIES = 100_000
MAX_SECONDS = 2400.0  # the default --max-seconds: vectors for 100k memories can take minutes
TARGET_P99_MS = 200.0
CLIENT_TIMEOUT = 60.0  # the first recall waits for the server's vector index
START_SECONDS = 600.0  # for the specialists to connect and make their first sync
ANALYZE_AFTER = 10_000  # memories loaded into PostgreSQL before its first ANALYZE


@dataclass(frozen=True)
class Params:
    specialists: list[int]
    memories: int
    specialist_share: float
    skills: int
    asks: int
    warmup: int
    max_specialists: int
    timeout: float
    batch: int
    seed: int
    analyze: bool
    embedder: str
    embed_workers: int
    vector_cache: str | None


# --- one ask, one recall ---------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    ms: float
    chosen_ms: float  # to ask_started
    answered_ms: float  # to the last ask_answer (or ask_started, with no answer)
    result: AskResult


async def ask_once(client: Client, question: str, params: Params, **options: Any) -> Asked:
    started = time.perf_counter()
    chosen = answered = ended = started
    result: AskResult | None = None
    async for event in client.ask(
        question, timeout=params.timeout, max_specialists=params.max_specialists, **options
    ):
        now = time.perf_counter()
        if isinstance(event, AskStarted):
            chosen = answered = now
        elif isinstance(event, AskAnswered):
            answered = now
        elif isinstance(event, AskResult):
            result, ended = event, now
    assert result is not None
    return Asked(
        (ended - started) * 1000, (chosen - started) * 1000, (answered - started) * 1000, result
    )


async def recall_once(client: Client, question: str) -> float:
    started = time.perf_counter()
    await client.recall(question, limit=RECALL_LIMIT)
    return (time.perf_counter() - started) * 1000


# --- one backend -----------------------------------------------------------------------------


async def register(url: str, family: Sequence[ask_family.Specialist]) -> dict[str, str]:
    """Every agent of the family, the past AIs and the asker; returns name -> token."""
    engine = create_engine(url)
    try:
        tokens = {ASKER: (await create_agent(engine, ASKER))[1]}
        for member in family:
            tokens[member.name] = (
                await create_agent(engine, member.name, skills=list(member.skills))
            )[1]
        for name in ask_family.PAST:
            await create_agent(engine, name)
        return tokens
    finally:
        await engine.dispose()


async def preload(
    backend: str,
    url: str,
    records: list[MemoryRecord],
    vectors: bench_embedder.Vectors,
    params: Params,
) -> dict[str, Any]:
    """Store the memories straight into the database, as the server would (its vectors).
    PostgreSQL is ANALYZEd once the first ``ANALYZE_AFTER`` are in, then again at the end:
    planned with no statistics, each add's look-ups by id scan the whole table, and a
    load slows down as it grows (autovacuum would analyze it in time on a live server).
    Every memory must then have a vector of the server's embedder: the server would embed
    any other again in the background, while the asks are timed."""
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        store = MemoryStore(engine, make_embedder(params.embedder))
        label = f"{backend} load"
        rows = bench_embedder.with_vectors(records, vectors.matrix, vectors.embedder)
        first = min(ANALYZE_AFTER, len(records))
        analyzing = backend == "postgresql" and params.analyze
        await store_all(store, rows, first, params.batch, label)
        if analyzing:
            await analyze(engine)
        rest = f"{label} after the first {first:,}"
        await store_all(store, rows, len(records) - first, params.batch, rest)
        seconds = time.perf_counter() - started
        loaded: dict[str, Any] = {
            "memories": len(records),
            "seconds": round(seconds, 1),
            "per_s": round(len(records) / seconds),
        }
        if analyzing:
            loaded["analyze_seconds"] = await analyze(engine)
        foreign = await pending(store)
        if foreign:
            raise RuntimeError(
                f"{backend}: {foreign:,} memories stored without a vector of {vectors.embedder}"
            )
        return loaded
    finally:
        await engine.dispose()


async def newest_positions(url: str, names: list[str]) -> dict[str, int]:
    """Name -> the position of that AI's newest memory in the database."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(memories.c.ai, func.max(memories.c.seq))
                .where(memories.c.ai.in_(names))
                .group_by(memories.c.ai)
            )
            found = {ai: int(seq) for ai, seq in rows}
    finally:
        await engine.dispose()
    return {name: found.get(name, 0) for name in names}


async def analyze(engine: AsyncEngine) -> float:
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    return round(time.perf_counter() - started, 2)


async def clear_asks(url: str) -> None:
    """Forget every stored ask, answer and rating (the learned skills go with them)."""
    engine = create_engine(url)
    try:
        async with write_transaction(engine) as conn:
            for table in (feedback, ask_answers, asks):
                await conn.execute(delete(table))
    finally:
        await engine.dispose()


async def until_online(client: Client, names: Sequence[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        online = {a.name for a in await client.who(online=True)}
        missing = set(names) - online
        if not missing:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(missing)} specialists are not online, e.g. {min(missing)}")
        await asyncio.sleep(0.2)


async def run_backend(
    backend: str,
    postgres: str | None,
    params: Params,
    family: list[ask_family.Specialist],
    records: list[MemoryRecord],
    vectors: bench_embedder.Vectors,
    workdir: Path,
    profile: Path | None,
    out: dict[str, Any],
) -> None:
    home = workdir / backend
    home.mkdir()
    devices = home / "agents"
    async with database(backend, postgres, home) as url:
        tokens = await register(url, family)
        progress(f"{backend}: storing {len(records):,} memories…")
        out["load"] = await preload(backend, url, records, vectors, params)
        progress(f"{backend}: stored in {out['load']['seconds']} s; starting the server…")
        shutil.copytree(workdir / "devices", devices)
        synced_up_to(devices, await newest_positions(url, [s.name for s in family]))
        server = hub(home, url, extra_env={"CLOUDBRAIN_EMBEDDER": params.embedder})
        if profile is not None:
            stats = profile / f"server-{backend}.prof"
            server.argv[1:2] = ["-m", "cProfile", "-o", str(stats), "-m"]
            out["profile"] = str(stats)
        # Starting and stopping blocks the event loop, on purpose (see bench.relay).
        with server:
            agents = AgentsProcess(server.url, devices, params.embedder)
            asker = Client(server.url, ASKER, tokens[ASKER], device="bench", timeout=CLIENT_TIMEOUT)
            try:
                await asker.connect()
                members = [Member(s.name, tokens[s.name], s.skills) for s in family]
                for count in sorted(params.specialists):
                    scenarios = out.setdefault("scenarios", {})
                    scenarios[str(count)] = await scenario(
                        f"{backend} {count}",
                        url,
                        server.pid,
                        agents,
                        asker,
                        members[:count],
                        params,
                    )
            finally:
                await asker.close()
                agents.close()


async def scenario(
    label: str,
    url: str,
    server_pid: int,
    agents: AgentsProcess,
    asker: Client,
    members: list[Member],
    params: Params,
) -> dict[str, Any]:
    progress(f"{label}: connecting {len(members)} specialists…")
    start_s = await agents.start(members, START_SECONDS)
    await until_online(asker, [m.name for m in members])
    # Warm-up: every specialist answers once (its first answer opens its memory's vector
    # index and compiles its statements), then questions as measured, uncounted.
    named = [m.name for m in members]
    first = [
        named[i : i + params.max_specialists] for i in range(0, len(named), params.max_specialists)
    ]
    progress(
        f"{label}: {len(members)} specialists online ({start_s:.1f} s to start); "
        f"{len(first) + params.warmup} warm-up asks…"
    )
    questions = recall_corpus.queries(params.seed + 1, len(first) + params.warmup)
    for question, names in zip(questions, first, strict=False):
        await ask_once(asker, question, params, agents=names)
    for question in questions[len(first) :]:
        await ask_once(asker, question, params)
        await recall_once(asker, question)
    await clear_asks(url)  # measured asks start with no ask history, in every scenario
    await agents.spent()  # from now on
    asked: list[Asked] = []
    recalled: list[float] = []
    questions = recall_corpus.queries(params.seed + 2, params.asks)
    cpu = CpuMeter(server_pid, agents.pid)
    started = shown = time.perf_counter()
    for question in questions:
        asked.append(await ask_once(asker, question, params))
        recalled.append(await recall_once(asker, question))
        if time.perf_counter() - shown >= 10:
            shown = time.perf_counter()
            so_far = [a.ms for a in asked]
            progress(
                f"{label}: {len(asked)}/{len(questions)} asks, p50 {percentile(so_far, 50):.1f} "
                f"ms, p99 {percentile(so_far, 99):.1f} ms so far"
            )
    seconds = time.perf_counter() - started
    cpu.end()
    spent = await agents.spent()
    result = summed_up(asked, recalled, spent, params)
    result["connected"] = len(members)
    result["start_seconds"] = round(start_s, 1)
    result["seconds"] = round(seconds, 1)
    result["cpu"] = cpu.read(seconds)
    progress(f"{label}: {line(result)}")
    return result


class CpuMeter:
    """CPU seconds of the server, the specialists and this process, and of the whole machine
    (every core, every process: on PostgreSQL, the database is most of the rest), from now
    until :meth:`end`."""

    def __init__(self, server: int, specialists: int) -> None:
        self.server, self.specialists = server, specialists
        self.before = self._now()
        self.after = self.before

    def _now(self) -> dict[str, float | None]:
        return {
            "server": process_cpu_seconds(self.server),
            "specialists": process_cpu_seconds(self.specialists),
            "bench": time.process_time(),
            "machine": machine_cpu_seconds(),
        }

    def end(self) -> None:
        self.after = self._now()

    def read(self, seconds: float) -> dict[str, float | None]:
        """Fractions of one core over ``seconds`` (``machine`` can reach the number of cores),
        and ``rest``: the machine's less the three processes'; None where unknown."""
        found: dict[str, float | None] = {}
        for name, before in self.before.items():
            after = self.after[name]
            found[name] = None if before is None or after is None else (after - before) / seconds
        parts = [found["server"], found["specialists"], found["bench"]]
        machine = found["machine"]
        found["rest"] = (
            None if machine is None or None in parts else machine - sum(p or 0.0 for p in parts)
        )
        return {name: None if v is None else round(max(v, 0.0), 2) for name, v in found.items()}


def machine_cpu_seconds() -> float | None:
    """CPU seconds every core of the machine spent busy since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(f) for f in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    guest = sum(fields[8:10])  # already counted in user and nice
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def summed_up(
    asked: list[Asked], recalled: list[float], spent: list[float], params: Params
) -> dict[str, Any]:
    ask_ms = [a.ms for a in asked]
    n = len(asked)

    def mean(values: Sequence[float]) -> float:
        return round(sum(values) / len(values), 2) if values else 0.0

    ask, recall = summarize(ask_ms), summarize(recalled)
    half = n // 2
    per_ask = {
        "chosen": mean([len(a.result.specialists) for a in asked]),
        "chosen_live": mean([sum(s.live for s in a.result.specialists) for a in asked]),
        "answers_live": mean([sum(x.source == "live" for x in a.result.answers) for a in asked]),
        "answers_live_knew": mean(
            [sum(x.source == "live" and x.knows for x in a.result.answers) for a in asked]
        ),
        "answers_memory": mean(
            [sum(x.source == "memory" for x in a.result.answers) for a in asked]
        ),
        "topics": mean([len(a.result.topics) for a in asked]),
    }
    return {
        "ask": {
            **ask,
            "phases_ms": {
                "choose": mean([a.chosen_ms for a in asked]),
                "answers": mean([a.answered_ms - a.chosen_ms for a in asked]),
                "finish": mean([a.ms - a.answered_ms for a in asked]),
            },
            "server_ms": summarize([a.result.seconds * 1000 for a in asked]),
            "per_ask": per_ask,
            "missing": sum(len(a.result.missing) for a in asked),
            "asks_with_missing": sum(bool(a.result.missing) for a in asked),
            "failovers": sum(len(a.result.routing.failovers) for a in asked if a.result.routing),
            "no_answer": sum(not a.result.answers for a in asked),
            "drift": {
                "p50_first_half_ms": round(percentile(ask_ms[:half], 50), 2) if half else None,
                "p50_second_half_ms": round(percentile(ask_ms[half:], 50), 2),
            },
        },
        "recall": recall,
        "ratio": {
            key: round(ask[f"{key}_ms"] / recall[f"{key}_ms"], 2) for key in ("p50", "p99", "mean")
        },
        "agents": {
            "answers": len(spent),
            "answer_ms": summarize([s * 1000 for s in spent]) if spent else None,
        },
    }


def line(result: dict[str, Any]) -> str:
    a, r = result["ask"], result["recall"]
    return (
        f"ask p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms; recall p50 {r['p50_ms']} ms, "
        f"p99 {r['p99_ms']} ms; ask/recall x{result['ratio']['p50']} (p50), "
        f"x{result['ratio']['p99']} (p99); {a['per_ask']['answers_live']} live and "
        f"{a['per_ask']['answers_memory']} stored answers per ask, {a['missing']} missing"
    )


# --- all of it -------------------------------------------------------------------------------


async def run_all(
    params: Params, postgres: str | None, profile: Path | None, doc: dict[str, Any]
) -> None:
    """Every backend, each result put into ``doc`` as soon as it is known (so that a run
    stopped by its time limit still reports what it measured)."""
    backends = ["sqlite"] + (["postgresql"] if postgres else [])
    anchor = datetime.now(UTC).replace(microsecond=0)
    doc["parameters"]["anchor"] = anchor.isoformat()
    phases = doc["phases_s"]
    started = time.perf_counter()
    family = ask_family.specialists(max(params.specialists), params.skills, params.seed)
    records = ask_family.memories(
        family, params.memories, params.specialist_share, params.seed, anchor
    )
    held = sum(r.ai not in ask_family.PAST for r in records)
    doc["family"] = {
        "specialists": len(family),
        "past": len(ask_family.PAST),
        "skill_vocabulary": len(ask_family.SKILLS),
        "memories": len(records),
        "memories_of_specialists": held,
        "memories_of_past": len(records) - held,
    }
    progress(
        f"family: {len(family)} specialists holding {held:,} memories, {len(ask_family.PAST)} "
        f"past AIs holding {len(records) - held:,}; computing their vectors…"
    )
    vectors = await asyncio.to_thread(
        bench_embedder.embed_all,
        [r.content for r in records],
        params.embedder,
        workers=params.embed_workers,
        cache=None if params.vector_cache is None else Path(params.vector_cache),
        label="family vectors",
    )
    doc["vectors"] = vectors.report()
    phases["corpus"] = round(time.perf_counter() - started, 1)
    progress(f"vectors ready in {phases['corpus']} s")
    workdir = Path(tempfile.mkdtemp(prefix="cloudbrain-ask-"))
    try:
        started = time.perf_counter()
        progress(f"preparing the devices of {len(family)} specialists…")
        mine = [i for i, r in enumerate(records) if r.ai not in ask_family.PAST]
        owned: dict[str, list[MemoryRecord]] = {s.name: [] for s in family}
        chosen = bench_embedder.with_vectors(
            [records[i] for i in mine], vectors.matrix[mine], vectors.embedder
        )
        for record in chosen:
            owned[record.ai].append(record)
        await prepare_devices(workdir / "devices", owned, params.embedder)
        phases["devices"] = round(time.perf_counter() - started, 1)
        progress(f"devices ready in {phases['devices']} s")
        for backend in backends:
            started = time.perf_counter()
            out = doc["results"].setdefault(backend, {})
            pg = postgres if backend == "postgresql" else None
            await run_backend(backend, pg, params, family, records, vectors, workdir, profile, out)
            phases[backend] = round(time.perf_counter() - started, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- the report ------------------------------------------------------------------------------


def source() -> dict[str, Any]:
    """The commit measured, and whether the package's code had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--", "cloudbrain", "server", "agent", "directory")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    return {"commit": commit, "uncommitted_changes": bool(changed)}


def targets(doc: dict[str, Any], params: Params) -> dict[str, Any]:
    measured = {
        backend: r.get("scenarios", {})
        .get(str(TARGET_SPECIALISTS), {})
        .get("ask", {})
        .get("p99_ms")
        for backend, r in doc["results"].items()
    }
    return {
        "what": f"p99 of an ask (sent -> ask_result) with {TARGET_SPECIALISTS} connected "
        f"recall-brain specialists and {TARGET_MEMORIES:,} memories, with the shipped model",
        "limit_ms": TARGET_P99_MS,
        "embedder": params.embedder,
        "applies": params.memories >= TARGET_MEMORIES
        and params.embedder == bench_embedder.DEFAULT_SPEC,
        "p99_ms": measured,
        "met": {b: None if p is None else p < TARGET_P99_MS for b, p in measured.items()},
    }


def print_table(doc: dict[str, Any], out: TextIO) -> None:
    head = (
        f"{'backend':<12}{'conn':>5}{'ask p50':>9}{'p95':>8}{'p99':>8}{'mean':>8}"
        f"{'recall p50':>11}{'p99':>7}{'x p50':>7}{'x p99':>7}"
        f"{'chosen':>8}{'live':>6}{'memory':>7}{'miss':>6}{'cpu srv':>8}{'agents':>7}{'rest':>6}"
    )
    print(
        "\nask latency, ms (client: ask -> ask_result) with `conn` specialists connected, "
        f"beside recall (limit {RECALL_LIMIT}) of the same question on the same server, and "
        "their ratio (x); per ask: specialists chosen, answers live and from memories, and in "
        "all the specialists missing; CPU as fractions of one core\n"
        f"{head}\n{'-' * len(head)}",
        file=out,
    )
    for backend, r in doc["results"].items():
        for count, s in r.get("scenarios", {}).items():
            a, rc, x, per = s["ask"], s["recall"], s["ratio"], s["ask"]["per_ask"]
            print(
                f"{backend:<12}{int(count):>5}{a['p50_ms']:>9.1f}{a['p95_ms']:>8.1f}"
                f"{a['p99_ms']:>8.1f}{a['mean_ms']:>8.1f}{rc['p50_ms']:>11.1f}{rc['p99_ms']:>7.1f}"
                f"{x['p50']:>7.1f}{x['p99']:>7.1f}{per['chosen']:>8.2f}{per['answers_live']:>6.2f}"
                f"{per['answers_memory']:>7.2f}{a['missing']:>6}"
                f"{number(s['cpu']['server']):>8}{number(s['cpu']['specialists']):>7}"
                f"{number(s['cpu']['rest']):>6}",
                file=out,
            )
    print(file=out)
    for backend, r in doc["results"].items():
        load = r.get("load")
        if load:
            print(
                f"{backend}: {load['memories']:,} memories stored in {load['seconds']} s", file=out
            )
        for count, s in r.get("scenarios", {}).items():
            p, ag = s["ask"]["phases_ms"], s["agents"]
            answer = ag["answer_ms"]
            print(
                f"    {count} connected: mean ask = choose {p['choose']:.1f} + answers "
                f"{p['answers']:.1f} + finish {p['finish']:.1f} ms; an agent's answer p50 "
                f"{number(answer and answer['p50_ms'])} ms ({ag['answers']} answers); p50 first/"
                f"second half {number(s['ask']['drift']['p50_first_half_ms'])}/"
                f"{number(s['ask']['drift']['p50_second_half_ms'])} ms",
                file=out,
            )
    t = doc["target"]
    for backend, p99 in t["p99_ms"].items():
        met = t["met"][backend]
        verdict = "not measured" if met is None else ("met" if met else "MISSED")
        if met is not None and not t["applies"]:
            verdict += (
                f" (but the target is for {TARGET_MEMORIES:,} memories and "
                f"{bench_embedder.DEFAULT_SPEC})"
            )
        print(
            f"target: {t['what']}, {backend}: {number(p99)} ms (< {TARGET_P99_MS:g} ms: {verdict})",
            file=out,
        )


# --- the command line ------------------------------------------------------------------------


def counts(text: str) -> list[int]:
    try:
        found = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 10,100, not {text}") from None
    if not found or found[0] <= 0:
        raise argparse.ArgumentTypeError(f"numbers must be positive, not {text}")
    return found


def share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ask",
        description="Benchmark asking CloudBrain's specialists: ask latency with N connected "
        "recall-brain agents and a store of synthetic memories, beside a recall of the same "
        "question on the same server (the baseline), on SQLite and PostgreSQL. Progress and a "
        "table go to stderr, a JSON document to stdout.",
        epilog=f"Target: p99 of an ask under {TARGET_P99_MS:g} ms with {TARGET_SPECIALISTS} "
        f"connected specialists and {TARGET_MEMORIES:,} memories. Exits 1 when the run did not "
        "complete.",
    )
    parser.add_argument(
        "--specialists",
        type=counts,
        default=[10, TARGET_SPECIALISTS],
        metavar="N,N",
        help="numbers of connected specialists to measure with; the family has as many as the "
        "largest (default: 10,100)",
    )
    parser.add_argument(
        "--memories",
        type=positive(int),
        default=TARGET_MEMORIES,
        help="synthetic memories stored (default: %(default)s)",
    )
    parser.add_argument(
        "--specialist-share",
        type=share,
        default=0.3,
        help="share of the memories the specialists hold between them; the past AIs hold the "
        "rest (default: %(default)s)",
    )
    parser.add_argument(
        "--skills",
        type=positive(int),
        default=3,
        help=f"skills each specialist declares, of {len(ask_family.SKILLS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--asks",
        type=positive(int),
        default=100,
        help="timed asks (each followed by a timed recall) per backend and number of "
        "specialists (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="untimed asks and recalls before the timed ones (default: %(default)s)",
    )
    parser.add_argument(
        "--max-specialists",
        type=positive(int),
        default=5,
        help="max_specialists of each ask (default: the server's %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=positive(float),
        default=10.0,
        help="timeout of each ask in seconds: how long the server waits for live answers "
        "(default: the server's %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=positive(int),
        default=1000,
        help="memories per MemoryStore.add call while loading (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=20261122,
        help="for the family, the memories and the questions (default: %(default)s)",
    )
    add_postgres_options(parser)
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="do not ANALYZE the PostgreSQL database after loading",
    )
    parser.add_argument(
        "--embedder",
        default=bench_embedder.DEFAULT_SPEC,
        metavar="SPEC",
        help="the embedder of the server, of every specialist's own store and of the stored "
        "memories' vectors, named as CLOUDBRAIN_EMBEDDER names it: onnx:minilm (the shipped "
        "model, the default of both), hashing, hashing:DIMS... (default: %(default)s)",
    )
    bench_embedder.add_vector_options(parser)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run each server under cProfile and write its stats to DIR/server-BACKEND.prof",
    )
    add_run_options(parser)
    # Longer than other benchmarks: the memories' vectors, when not cached, take minutes.
    parser.set_defaults(max_seconds=MAX_SECONDS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_quiet(args.json_only)
    postgres = None if args.no_postgres else args.postgres
    params = Params(
        specialists=args.specialists,
        memories=args.memories,
        specialist_share=args.specialist_share,
        skills=args.skills,
        asks=args.asks,
        warmup=args.warmup,
        max_specialists=args.max_specialists,
        timeout=args.timeout,
        batch=args.batch,
        seed=args.seed,
        analyze=not args.no_analyze,
        embedder=args.embedder,
        embed_workers=args.embed_workers,
        vector_cache=None if args.no_vector_cache else args.vector_cache,
    )
    parameters: dict[str, Any] = {
        **asdict(params),
        "recall_limit": RECALL_LIMIT,
        "brain": "recall",
    }
    doc: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": versions(),
        "source": source(),
        "parameters": parameters,
        "results": {},
        "phases_s": {},
    }
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()
    run_and_report(
        doc,
        lambda: run_all(params, postgres, args.profile, doc),
        postgres=postgres,
        max_seconds=args.max_seconds,
        json_only=args.json_only,
        targets=lambda finished: targets(finished, params),
        tables=print_table,
    )


if __name__ == "__main__":
    main()
