"""How fast Familio's pages and REST API answer with 1,000 AIs and 100,000 memories, each page
next to a baseline measured in the same run.

    python -m bench.familio                 # about 8 minutes with the defaults, on 2 cores
    python -m bench.familio --no-postgres --agents 200 --memories 10000 --json-only > result.json

Options: ``--agents N`` (default 1000), ``--memories M`` (default 100000), ``--requests R``
(timed GETs per page, default 100), ``--warmup W`` (uncounted GETs per page first, default 5),
``--batch B`` (memories per ``MemoryStore.add``, default 1000), ``--seed``, ``--postgres URL`` /
``--no-postgres``, ``--max-seconds``, ``--json-only``.

Each backend gets a fresh database, filled from this process before the server starts:
SQLite (a temporary file) and PostgreSQL (a new database made on the ``--postgres`` server and
dropped after; ``--no-postgres`` skips it). The data (``setup`` in the JSON, with how long each
part took), all from ``--seed``:

- ``--agents`` AIs made with ``create_agent``, two or three skills each from ``SKILLS``; one of
  them is ``star``, the rest ``ai-0001`` and on.
- ``--memories`` memories (the texts of ``bench.recall_corpus``) through ``MemoryStore.add`` in
  batches of ``--batch``, embedded by the built-in hashing embedder as the server does, spread
  over 60 days and the devices of ``DEVICES``; ``star`` has 5% of them (5,000), the others share
  the rest. On PostgreSQL the database is ANALYZEd after, as autovacuum would do.
- ``--agents * 3`` follows and as many endorsements between random AIs (of a skill the
  endorsed AI declared), and the owner's trust in 10 AIs, through ``SocialChanges``. Then
  ``Standing(ReputationStore(engine)).refresh()``, the reputation of every AI worked out over
  that graph, is timed on its own (``reputation_seconds``).

Then ``cloudbrain server`` runs as a process of its own (rate limits out of the way as in
``bench.relay``, the web view on a free port, reputation checked every 10 s as by default).
Once ``/api/agents`` answers, the server has worked reputation out itself and it has been idle
for a second (``settled``: its vector index is loaded), each page in ``PAGES`` gets
``--warmup`` GETs and then ``--requests`` timed GETs, one after the other on one keep-alive
connection (``http.client``, from a thread of this process), each timed from the request to
the last byte of the body. ``baseline`` is ``/static/familio.css`` from the same server (the
same HTTP stack, no data), timed the same way first; ``ratio`` is a page's p50 over the
baseline's. ``server_cpu_ms`` is the server's CPU time per request over the timed GETs.

``ack_now`` is the same GETs again with this side acknowledging each response at once
(``TCP_QUICKACK``, Linux): a server that leaves Nagle's algorithm on holds the second write of
a response (the body, after the headers) until the client's delayed ACK, about 40 ms on Linux,
as Familio's did while its listening socket did not name its protocol (asyncio then does not
set ``TCP_NODELAY``). The plain numbers are what any client gets; when they are about 40 ms
above ``ack_now``, that stall is back.

The directory keeps what AIs did (memory counts, sessions, reputation) for 10 s, so a family
page request works it out again every 10 s, which p99 may show; ``history_ms`` times one
``/api/agents?per_page=1`` that does, after the 10 s passed.

Every response is checked: status 200 and a body, and ``/api/agents`` and ``/api/memories``
report the totals that were stored (``checks``; ``all_checks_passed``).

Reading the result: ``target`` holds, per backend, the slowest page's p99 against the project's
500 ms ("a page with 1,000 AIs and 100k memories stays fast"). Progress lines and a table go to
stderr, the JSON document to stdout. The run stops after ``--max-seconds``, printing what it
measured so far with ``"complete": false``, and exits 1; it also exits 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select, text

from bench import recall_corpus
from bench.counting import CpuMeter, process_cpu_seconds
from bench.progress import (
    add_postgres_options,
    add_run_options,
    number,
    positive,
    progress,
    set_quiet,
)
from bench.recall import run_and_report, store_all, summarize, versions
from bench.servers import hub, hub_database
from cloudbrain.db import create_engine, upgrade
from cloudbrain.db.models import reputation
from cloudbrain.familio.social import SocialChanges
from cloudbrain.familio.standing import Standing
from cloudbrain.identity import create_agent
from cloudbrain.memory.embedding import HashingEmbedder
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import MemoryStore
from cloudbrain.server.directory import HISTORY_SECONDS
from cloudbrain.storage.reputation import ReputationStore
from cloudbrain.storage.social import SocialStore
from tests.processes import HOST, ServerProcess, free_port

STAR = "star"
STAR_SHARE = 0.05  # of the memories: star's memory page is the heavy one
DEVICES = ("laptop", "desktop", "jetson", "phone")
SKILLS = ("python", "rust", "sql", "devops", "writing", "math", "vision", "planning", "security")
SEARCH = "billing"  # a word of the corpus, in about one memory in 40
TRUSTED = 10
TARGET_P99_MS = 500.0
READY_SECONDS = 120.0  # for the server's first answers and its first reputation
IDLE_CPU_SECONDS = 0.05  # of CPU in a second: the server has nothing running

BASELINE = ("baseline", "/static/familio.css")
PAGES = [
    ("family", "/"),
    ("family_skill", "/?skill=python"),
    ("api_agents", "/api/agents?per_page=50"),
    ("profile", f"/agents/{STAR}"),
    ("memories", f"/memories?agent={STAR}"),
    ("memories_7d", f"/memories?agent={STAR}&since=7d"),
    ("api_memories", f"/api/memories?agent={STAR}&per_page=50"),
    ("memories_search", f"/memories?agent={STAR}&q={SEARCH}"),
    ("graph", "/graph"),
    ("asks", "/asks"),
]


@dataclass(frozen=True)
class Params:
    agents: int
    memories: int
    requests: int
    warmup: int
    batch: int
    seed: int


# --- the data --------------------------------------------------------------------------------


def memories(params: Params, names: list[str], anchor: datetime) -> Iterator[MemoryRecord]:
    """The corpus's memories, given to our AIs and devices: ``STAR_SHARE`` of them to star."""
    rng = random.Random(params.seed)
    others = names[1:] or names
    for record in recall_corpus.memories(params.seed, anchor):
        ai = STAR if rng.random() < STAR_SHARE else rng.choice(others)
        device = rng.choice(DEVICES)
        session = f"{ai}-{device}-{rng.randrange(20)}"
        yield record.model_copy(update={"ai": ai, "device": device, "session": session})


async def fill(url: str, params: Params, out: dict[str, Any]) -> None:
    """Migrate the database and store the AIs, memories and social graph, timing each part."""
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    rng = random.Random(params.seed)
    names = [STAR, *(f"ai-{i:04d}" for i in range(1, params.agents))]
    skills = {name: sorted(rng.sample(SKILLS, rng.randint(2, 3))) for name in names}
    try:
        started = time.perf_counter()
        for name in names:
            await create_agent(engine, name, skills=skills[name])
        out["agents_seconds"] = round(time.perf_counter() - started, 2)
        progress(f"  {len(names):,} AIs in {out['agents_seconds']}s; memories…")

        started = time.perf_counter()
        store = MemoryStore(engine, HashingEmbedder())
        records = memories(params, names, datetime.now(UTC))
        await store_all(store, records, params.memories, params.batch, "  memories")
        seconds = time.perf_counter() - started
        out["memories_seconds"] = round(seconds, 1)
        out["memories_per_s"] = round(params.memories / seconds)
        progress(f"  {params.memories:,} memories in {seconds:.0f}s; follows and endorsements…")

        started = time.perf_counter()
        social = SocialChanges(SocialStore(engine))
        follows = endorsements = 0
        wanted = min(3 * len(names), len(names) * (len(names) - 1))  # a tiny family has fewer
        while follows < wanted:
            a, b = rng.sample(names, 2)
            follows += await social.follow(a, b)
        while endorsements < wanted:
            a, b = rng.sample(names, 2)
            endorsements += await social.endorse(a, b, rng.choice(skills[b]))
        for name in [STAR, *rng.sample(names[1:], min(TRUSTED - 1, len(names) - 1))]:
            await social.trust(name, rng.choice([25.0, 50.0, 100.0]))
        out.update(follows=follows, endorsements=endorsements, trusted=TRUSTED)
        out["social_seconds"] = round(time.perf_counter() - started, 1)

        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:  # autovacuum would, on a live server
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("ANALYZE"))
        started = time.perf_counter()
        await Standing(ReputationStore(engine)).refresh()
        out["reputation_seconds"] = round(time.perf_counter() - started, 2)
        progress(
            f"  social graph in {out['social_seconds']}s, reputation in "
            f"{out['reputation_seconds']}s"
        )
    finally:
        await engine.dispose()


async def last_reputation(url: str) -> datetime | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            found: datetime | None = await conn.scalar(select(func.max(reputation.c.computed_at)))
            return found
    finally:
        await engine.dispose()


# --- the server and the requests -------------------------------------------------------------


def familio_hub(home: Path, db_url: str, http_port: int) -> ServerProcess:
    """``cloudbrain server`` as ``bench.servers.hub`` makes it, with its web view on
    ``http_port`` and reputation checked as often as a real server checks it."""
    env = {
        "CLOUDBRAIN_HTTP_PORT": str(http_port),
        "CLOUDBRAIN_REPUTATION_EVERY": "10",  # tests' 0.2 s would add load a server has not
    }
    return hub(home, db_url, extra_env=env)


@dataclass
class Got:
    ms: float
    status: int
    body: bytes


QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def gets(conn: http.client.HTTPConnection, path: str, count: int, ack_now: bool) -> list[Got]:
    """``count`` GETs of ``path``, one after the other on ``conn`` (kept alive). ``ack_now``
    has this side acknowledge at once rather than after the delayed-ACK timer (Linux)."""
    found = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", path)
        if ack_now and QUICKACK is not None and conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)  # once per read: it wears off
        response = conn.getresponse()
        body = response.read()
        found.append(Got((time.perf_counter() - started) * 1000, response.status, body))
    return found


def timed_gets(
    conn: http.client.HTTPConnection, path: str, count: int, ack_now: bool, pid: int
) -> tuple[list[Got], float | None]:
    """The GETs, and the server's CPU time per request over them (ms)."""
    meter = CpuMeter(pid)
    meter.begin()
    started = time.perf_counter()
    found = gets(conn, path, count, ack_now)
    wall = time.perf_counter() - started
    meter.end()
    cpu, _ = meter.read()
    return found, None if cpu is None else round(cpu * wall * 1000 / count, 2)


def time_page(port: int, path: str, params: Params, pid: int) -> dict[str, Any]:
    """Warm-up GETs, then the timed GETs as any client makes them, then as many with the
    immediate ACK, all on one connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        warm = gets(conn, path, params.warmup, ack_now=False)
        timed, cpu_ms = timed_gets(conn, path, params.requests, False, pid)
        quick = timed_gets(conn, path, params.requests, True, pid)[0] if QUICKACK else []
    finally:
        conn.close()
    every = warm + timed + quick
    return {
        "path": path,
        **summarize([g.ms for g in timed]),
        "server_cpu_ms": cpu_ms,
        "bytes": len(timed[-1].body),
        "ack_now": summarize([g.ms for g in quick]) if quick else None,
        "checks": {
            "non_200": sum(g.status != 200 for g in every),
            "empty": sum(not g.body for g in every),
        },
        "_last": timed[-1].body,  # for the content checks, dropped before the report
    }


def get_once(port: int, path: str) -> Got:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        return gets(conn, path, 1, ack_now=False)[0]
    finally:
        conn.close()


async def wait_until_ready(port: int, url: str, before: datetime | None) -> None:
    """Until ``/api/agents`` answers and the server has stored reputation of its own."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            answered = await asyncio.to_thread(get_once, port, "/api/agents?per_page=1")
        except OSError:
            answered = None
        ok = answered is not None and answered.status == 200
        if ok and (before is None or (await last_reputation(url) or before) > before):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the server was not ready after {READY_SECONDS}s")


async def quiet(pid: int) -> bool:
    """Wait until the server is idle (its start loads every memory's vector into its index in
    the background, which would slow whatever is timed first); False if it never was."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        before = process_cpu_seconds(pid)
        await asyncio.sleep(1.0)
        after = process_cpu_seconds(pid)
        if before is None or after is None or after - before < IDLE_CPU_SECONDS:
            return True
    return False


def content_checks(bodies: dict[str, bytes], params: Params) -> dict[str, Any]:
    """The API pages report what was stored."""
    agents = json.loads(bodies["api_agents"])
    star = json.loads(bodies["api_memories"])
    items = len(star.get("items", []))
    checks: dict[str, Any] = {
        "api_agents_total": agents.get("total"),
        "expected_agents": params.agents,
        "api_memories_items": items,
        "star_memories": star.get("total"),
    }
    total = agents.get("total") == params.agents
    checks["ok"] = total and items == min(50, star.get("total") or 0) > 0
    return checks


async def bench_backend(
    backend: str, postgres: str | None, params: Params, workdir: Path, out: dict[str, Any]
) -> None:
    home = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=workdir))
    async with hub_database(home, postgres if backend == "postgresql" else None) as db_url:
        progress(f"{backend}: storing {params.agents:,} AIs, {params.memories:,} memories…")
        await fill(db_url, params, out.setdefault("setup", {}))
        before = await last_reputation(db_url)
        port = free_port()
        with familio_hub(home, db_url, port) as server:
            try:
                await wait_until_ready(port, db_url, before)
                out["settled"] = await quiet(server.pid)
                progress(f"{backend}: timing {len(PAGES) + 1} pages, {params.requests} GETs each…")
                pages, bodies = out.setdefault("pages", {}), {}
                for label, path in [BASELINE, *PAGES]:
                    r = await asyncio.to_thread(time_page, port, path, params, server.pid)
                    bodies[label] = r.pop("_last")
                    base = pages.get("baseline", r)
                    r["ratio"] = _ratio(r["p50_ms"], base["p50_ms"])
                    if r["ack_now"]:
                        r["ack_now"]["ratio"] = _ratio(
                            r["ack_now"]["p50_ms"], base["ack_now"]["p50_ms"]
                        )
                    r["checks"]["ok"] = not any(r["checks"].values())
                    pages[label] = r
                    progress(
                        f"  {label:<16} p50 {r['p50_ms']:>8.2f} ms, p99 {r['p99_ms']:>8.2f} ms"
                        + (
                            f" (ACK at once: p50 {r['ack_now']['p50_ms']:.2f})"
                            if r["ack_now"]
                            else ""
                        )
                    )
                out["checks"] = content_checks(bodies, params)
                # Let the directory's history go stale, then time the request that redoes it.
                await asyncio.sleep(HISTORY_SECONDS + 0.5)
                got = await asyncio.to_thread(get_once, port, "/api/agents?per_page=1")
                out["history_ms"] = round(got.ms, 1)
            except Exception:
                progress(f"{backend}: the server's log ends with:\n{server.log_tail()}")
                raise


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


# --- the runs and the report -----------------------------------------------------------------


async def run_all(params: Params, postgres: str | None, doc: dict[str, Any]) -> None:
    """Each backend in turn, its results put into ``doc`` as soon as they are known."""
    backends = ["sqlite"] + (["postgresql"] if postgres else [])
    workdir = Path(tempfile.mkdtemp(prefix="cloudbrain-familio-"))
    try:
        for backend in backends:
            started = time.perf_counter()
            out = doc["results"].setdefault(backend, {})
            await bench_backend(backend, postgres, params, workdir, out)
            doc["phases_s"][backend] = round(time.perf_counter() - started, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        doc["all_checks_passed"] = all_checks_passed(doc)


def all_checks_passed(doc: dict[str, Any]) -> bool:
    backends = [r for r in doc["results"].values() if "pages" in r]
    return bool(backends) and all(
        r.get("checks", {}).get("ok", False) and all(p["checks"]["ok"] for p in r["pages"].values())
        for r in backends
    )


def targets(doc: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "what": f"every page's p99 under {TARGET_P99_MS:g} ms, per backend (the slowest shown)"
    }
    for backend, r in doc["results"].items():
        pages = {k: v for k, v in r.get("pages", {}).items() if k != "baseline"}
        slowest = max(pages, key=lambda k: pages[k]["p99_ms"], default=None)
        p99 = pages[slowest]["p99_ms"] if slowest else None
        found[backend] = {
            "slowest_page": slowest,
            "p99_ms": p99,
            "limit_ms": TARGET_P99_MS,
            "met": None if p99 is None else p99 < TARGET_P99_MS,
        }
    return found


def print_table(doc: dict[str, Any], out: TextIO) -> None:
    head = f"{'page':<17}{'backend':<12}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'ratio':>7}"
    head += f"{'ack p50':>9}{'ratio':>7}{'cpu ms':>8}{'KB':>6}{'checks':>8}"
    print(f"\n{head}\n{'-' * len(head)}", file=out)
    for label, _ in [BASELINE, *PAGES]:
        for backend, results in doc["results"].items():
            r = results.get("pages", {}).get(label)
            if r is None:
                continue
            quick = r["ack_now"] or {}
            print(
                f"{label:<17}{backend:<12}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
                f"{r['p99_ms']:>9.2f}{number(r['ratio'], 1):>7}{number(quick.get('p50_ms')):>9}"
                f"{number(quick.get('ratio'), 1):>7}{number(r['server_cpu_ms'], 1):>8}"
                f"{r['bytes'] / 1024:>6.0f}{'ok' if r['checks']['ok'] else 'FAILED':>8}",
                file=out,
            )
    print("(ack: the same GETs with this side's ACK sent at once, TCP_QUICKACK)\n", file=out)
    for backend, r in doc["results"].items():
        s = r.get("setup", {})
        print(
            f"{backend}: reputation over {s.get('follows')} follows and {s.get('endorsements')} "
            f"endorsements in {number(s.get('reputation_seconds'))}s; a request that redoes the "
            f"directory's history: {number(r.get('history_ms'), 0)} ms",
            file=out,
        )
    for backend, t in doc["target"].items():
        if backend != "what":
            verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "MISSED")
            print(
                f"target: {backend} slowest p99 {number(t['p99_ms'])} ms ({t['slowest_page']}; "
                f"< {TARGET_P99_MS:g} ms: {verdict})",
                file=out,
            )


# --- the command line ------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.familio",
        description="Benchmark Familio's web pages and REST API with many AIs and memories, on "
        "SQLite and PostgreSQL: p50/p95/p99 of sequential GETs per page, against a static "
        "file from the same server. Progress and a table go to stderr, a JSON document to "
        "stdout.",
        epilog=f"Target: every page's p99 under {TARGET_P99_MS:g} ms with 1,000 AIs and 100k "
        "memories. Exits 1 when the run did not complete or a check failed.",
    )
    for option, default, what in [
        ("--agents", 1000, "AIs"),
        ("--memories", 100_000, "memories"),
        ("--requests", 100, "timed GETs per page (and as many with the ACK at once)"),
        ("--warmup", 5, "untimed GETs per page first"),
        ("--batch", 1000, "memories per MemoryStore.add call while loading"),
    ]:
        parser.add_argument(
            option, type=positive(int), default=default, help=f"{what} (default: %(default)s)"
        )
    parser.add_argument("--seed", type=int, default=20261201, help="for all the data")
    add_postgres_options(parser)
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_quiet(args.json_only)
    postgres = None if args.no_postgres else args.postgres
    params = Params(args.agents, args.memories, args.requests, args.warmup, args.batch, args.seed)
    machine = versions()
    for package in ("fastapi", "uvicorn", "jinja2"):
        machine[package] = package_version(package)
    doc: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "parameters": {**asdict(params), "pages": dict([BASELINE, *PAGES])},
        "results": {},
        "phases_s": {},
    }
    run_and_report(
        doc,
        lambda: run_all(params, postgres, doc),
        postgres=postgres,
        max_seconds=args.max_seconds,
        json_only=args.json_only,
        targets=targets,
        tables=print_table,
    )


if __name__ == "__main__":
    main()
