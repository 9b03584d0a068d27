"""How fast a sender/receiver pair with history floods the hub after the server restarted,
next to a fresh pair on the same restarted server and to the same pair without a restart.

    python -m bench.restart                      # about 40 s with the defaults
    python -m bench.restart --unacked 500        # r0 has messages to replay after the restart
    python -m bench.restart --unacked 500 --server-env CLOUDBRAIN_SPOOL=false   # A/B
    python -m bench.restart --keep-clients       # the pair's clients live through the restart
    python -m bench.restart --py-spy /tmp/restart-profiles --keep /tmp/restart-run
    python -m bench.restart --stored 1000000     # a database with a million messages already
    python -m bench.restart --db postgresql+asyncpg://postgres@127.0.0.1/test   # PostgreSQL

One run, on SQLite (or, with ``--db``, on PostgreSQL: a fresh database for each of the two
below, dropped after), every server a process of its own (``bench.servers.hub``):

1. ``no_restart``: a fresh database; the pair ``s0``/``r0`` exchanges ``--history`` messages
   (``--window`` in flight, the receiver acking each), its clients close, and the same pair
   connects again to the *same* server process and is measured (``--skip-no-restart``: not).
2. a second fresh database, the same history; the server is stopped (SIGTERM, as
   ``ListeningProcess.stop`` does) and started again on that database. Then, in one run:
   ``same_pair``: ``s0``/``r0`` connect again and are measured; ``fresh_pair``: two agents
   made after the restart (``s1``/``r1``, no history) are measured on that server
   (``--fresh-first`` swaps the order, to rule out warm-up effects).

``--unacked K`` leaves the last K messages of the history unacked (sent while ``r0`` is
offline): its next connection replays them, as after acks lost at a close. ``--keep-clients``
keeps the pair's two ``Client`` objects of the history open instead: they see the server go,
reconnect by themselves (the server comes back on the same port) and are measured as they are,
like long-running agents. ``--replay-first SECONDS`` (a diagnosis) lets ``r0`` take its replay
alone after the restart, then waits, before the measurements.

Each measurement is ``bench.load.measure`` in ``throughput`` mode for one pair: a warm-up that
is not counted, then ``--duration`` seconds. Only messages sent during the phase count; older
ones the receiver gets (the replay of its backlog) are acked and reported apart
(``replayed``, and how long into the phase the last one came). Each phase also reports the CPU
of the server's child processes (the spool's helper process: a third process competing for
the cores with the server and the load generator) and the messages delivered in each second.
Per database: how many deliveries of ``r0`` were pending after its history and after the
restart.

``--stored N`` (what README reports: 1,000,000) gives each database, before its first server
starts, ``N`` messages of an older history, all delivered, among ``s0``, ``r0`` and eight other
agents (``bench.stored``: written straight into the hub's tables, a million in under a minute),
so that the same measurements run against a database that already holds a large history; the
fill's time and the database's size are reported. A backlog for the reconnect to replay is
still ``--unacked``: pending copies stored before the server starts would be replayed at
``r0``'s first connection, in the pair's history, not after the restart.

``--server-env CLOUDBRAIN_NAME=VALUE`` sets a server setting for every server of the run, for
A/B comparisons (e.g. ``CLOUDBRAIN_SPOOL=false``: no Maildir spool and no spool helper).
``--py-spy DIR`` records the server with py-spy during each measured phase (``--format raw``:
collapsed stacks, one line per stack with its sample count): ``DIR/<phase>.txt``. ``--keep
DIR`` keeps the databases and server logs (``DIR/no_restart``, ``DIR/restart``), e.g. to
read the query plans of the statements on the path (PostgreSQL's databases are dropped all the
same: only the logs stay).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select

from bench.counting import Tally, process_cpu_seconds
from bench.links import CLIENT_TIMEOUT, HubLink
from bench.load import WARMUP_SECONDS, Params, Result, measure
from bench.progress import local_postgres, number, positive, progress, set_quiet
from bench.relay import machine, summary
from bench.servers import hub, hub_database, make_agents
from bench.stored import StoredHistory, fill, migrate
from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.db.models import agents, deliveries
from tests.processes import ServerProcess

HISTORY_TIMEOUT = 300.0  # for the history's last message to arrive
UNACKED_WINDOW = 100  # messages in flight while leaving some unacked
SAME, FRESH = ("s0", "r0"), ("s1", "r1")
# Who the --stored history is between besides s0 and r0: the pair has a history, and is not
# the only one that has.
OTHERS = tuple(f"h{i}" for i in range(8))


class PhaseLink(HubLink):
    """A :class:`HubLink` that lives through several phases and counts, in each, only the
    messages sent since the phase began: older ones its receiver gets (the replay of a
    backlog) are acked and counted apart, so that their old timestamps do not pass for
    latency. Opening it again while its clients run waits for them to be connected."""

    def __init__(
        self, url: str, tally: Tally, sender: tuple[str, str], receiver: tuple[str, str]
    ) -> None:
        super().__init__(url, tally, sender, receiver)
        self.start_phase(tally)

    def start_phase(self, tally: Tally) -> None:
        self.tally = tally
        self.since_ns = time.perf_counter_ns()
        self.replayed = 0
        self.last_replayed_ns: int | None = None  # when the last older message came
        self.arrivals: list[int] = []  # when each message of the phase came (perf_counter_ns)

    async def open(self) -> None:
        if self._reader is None:
            await super().open()
            return
        await self._rx.connect()  # running: returns once it is connected (again)
        await self._tx.connect()

    async def _receive(self) -> None:
        while True:
            message = await self._rx.receive()
            stamp = message.body["t"]
            if stamp < self.since_ns:
                self.replayed += 1
                self.last_replayed_ns = time.perf_counter_ns()
            else:
                self.tally.on_delivered(stamp)
                self.arrivals.append(time.perf_counter_ns())
            self._rx.ack(message)

    def per_second(self) -> list[int]:
        """Messages of the phase delivered in each second since it began, warm-up included."""
        counts: list[int] = []
        for at in self.arrivals:
            second = (at - self.since_ns) // 1_000_000_000
            counts.extend([0] * (second + 1 - len(counts)))
            counts[second] += 1
        return counts


def pair_link(server: ServerProcess, tokens: dict[str, str], pair: tuple[str, str]) -> PhaseLink:
    sender, receiver = pair
    return PhaseLink(server.url, Tally(), (sender, tokens[sender]), (receiver, tokens[receiver]))


@dataclass
class Phase:
    """What one measured phase saw besides its :class:`Result`."""

    replayed: int  # messages older than the phase that the receiver got: its backlog
    replay_seconds: float | None  # from the phase's start to the last of them
    # CPU of the server's child processes (the spool's helper) over the whole phase, warm-up
    # and drain included, in fractions of one core: a second process the server competes with
    children_cpu: float | None
    per_second: list[int]  # messages of the phase delivered in each second, from its start


@dataclass
class Backlog:
    """What a database holds for the receiver of the pair with history."""

    pending: int  # deliveries of r0 not acked: what its next connection replays
    deliveries: int  # every delivery stored, for anyone


@dataclass
class Database:
    history_msgs_per_s: float
    after_history: Backlog  # the server still running
    after_restart: Backlog | None = None  # None: no restart
    after_replay: Backlog | None = None  # after --replay-first
    results: list[Result] = field(default_factory=list)
    phases: dict[str, Phase] = field(default_factory=dict)
    stored: StoredHistory | None = None  # --stored: what was there before the first server


# --- the phases ------------------------------------------------------------------------------


async def make_history(link: PhaseLink, count: int, window: int) -> float:
    """``count`` messages over ``link``, ``window`` in flight, each acked by its receiver
    (the link stays open). Returns the rate, in messages per second."""
    tally = Tally()
    link.start_phase(tally)
    slots = asyncio.Semaphore(window)
    link.on_free = slots.release
    await link.open()
    started = time.perf_counter()
    for _ in range(count):
        await slots.acquire()
        tally.on_sent()
        await link.fire()
    tally.stop()
    await asyncio.wait_for(tally.settled.wait(), HISTORY_TIMEOUT)
    if link.errors:
        progress(f"history: {link.errors} errors, e.g. {link.first_error}")
    return round(count / (time.perf_counter() - started), 1)


async def leave_unacked(server: ServerProcess, tokens: dict[str, str], count: int) -> None:
    """``count`` more messages from s0 while r0 is offline: its next connection replays them
    (after a restart, the same state as acks of the last ``count`` messages lost at a close)."""
    if count <= 0:
        return
    sender, receiver = SAME
    client = Client(server.url, sender, tokens[sender], device="bench", timeout=CLIENT_TIMEOUT)
    await client.connect()
    try:
        for start in range(0, count, UNACKED_WINDOW):
            stamps = [
                time.perf_counter_ns() for _ in range(start, min(count, start + UNACKED_WINDOW))
            ]
            await asyncio.gather(*(client.send(receiver, {"t": t}) for t in stamps))
    finally:
        await client.close()


async def history_of(
    server: ServerProcess,
    tokens: dict[str, str],
    args: argparse.Namespace,
    home: Path,
    db_url: str,
) -> tuple[Database, PhaseLink | None]:
    """The pair's history on ``server``; returns the database's figures and, with
    ``--keep-clients``, the pair's link, still open."""
    progress(f"{home.name}: {args.history:,} messages of history for {'/'.join(SAME)}…")
    link = pair_link(server, tokens, SAME)
    try:
        rate = await make_history(link, args.history, args.window)
    finally:
        if not args.keep_clients:
            await link.close()
    await leave_unacked(server, tokens, args.unacked)
    db = Database(rate, await backlog(db_url))
    progress(f"{home.name}: history at {rate:,.0f} msgs/s, r0 {db.after_history}")
    return db, link if args.keep_clients else None


async def measure_pair(
    label: str,
    server: ServerProcess,
    link: PhaseLink,
    params: Params,
    profile_dir: Path | None,
    db: Database,
) -> None:
    """One measured phase over ``link``, which is closed after."""
    link.start_phase(Tally())
    progress(f"{label}: {params.warmup:g}s warm-up + {params.duration:g}s…")
    children_before, started = children_cpu_seconds(server.pid), time.perf_counter()
    with py_spy(server.pid, params.warmup + params.duration, profile_dir, label):
        result = await measure(label, "throughput", [link], params, server.pid)
    children_after, wall = children_cpu_seconds(server.pid), time.perf_counter() - started
    children = None
    if children_before is not None and children_after is not None:
        children = round((children_after - children_before) / wall, 2)
    if result.errors or not result.delivered:
        progress(f"{label}: the server's log ends with:\n{server.log_tail()}")
    seconds = None
    if link.last_replayed_ns is not None:
        seconds = round((link.last_replayed_ns - link.since_ns) / 1e9, 3)
    db.results.append(result)
    db.phases[label] = Phase(link.replayed, seconds, children, link.per_second())
    progress(
        f"{label}: {summary(result)}, server cpu {number(result.server_cpu)} "
        f"(its child processes {number(children)}); "
        f"{link.replayed:,} older messages replayed"
        + ("" if seconds is None else f", the last {seconds:g}s in")
        + f"; per second: {link.per_second()}"
    )


@contextlib.contextmanager
def py_spy(pid: int, seconds: float, folder: Path | None, label: str) -> Iterator[None]:
    """Record the process with py-spy for about ``seconds`` (nothing without ``folder``)."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    py_spy_bin = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    argv = [py_spy_bin, "record", "--pid", str(pid), "--format", "raw", "--nonblocking"]
    argv += ["--duration", str(max(1, round(seconds))), "--output", str(folder / f"{label}.txt")]
    recorder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        _, err = recorder.communicate(timeout=seconds + 30)
        if recorder.returncode:
            progress(f"py-spy failed ({recorder.returncode}): {err.decode(errors='replace')}")


async def stored_history(
    db_url: str, home: Path, count: int
) -> tuple[dict[str, str], StoredHistory | None]:
    """With ``--stored``: migrate the database, register the agents and store ``count``
    delivered messages, before a server starts on it; returns the agents' tokens."""
    if not count:
        return {}, None
    progress(f"{home.name}: storing {count:,} delivered messages first…")
    await migrate(db_url)
    names = [*SAME, *OTHERS]
    tokens = await make_agents(db_url, names)
    stored = await fill(db_url, names, count)
    progress(
        f"{home.name}: stored in {stored.seconds:g}s ({stored.rows_per_s:,.0f} rows/s), "
        f"database {megabytes(stored.database_bytes)} MB"
    )
    return tokens, stored


async def no_restart(home: Path, params: Params, args: argparse.Namespace) -> Database:
    async with hub_database(home, args.db) as db_url:
        tokens, stored = await stored_history(db_url, home, args.stored)
        with hub(home, db_url, extra_env=args.server_env) as server:
            tokens = tokens or await make_agents(db_url, list(SAME))
            db, kept = await history_of(server, tokens, args, home, db_url)
            db.stored = stored
            link = kept or pair_link(server, tokens, SAME)
            await measure_pair("no_restart", server, link, params, args.py_spy, db)
    return db


async def with_restart(home: Path, params: Params, args: argparse.Namespace) -> Database:
    async with hub_database(home, args.db) as db_url:
        return await restarted(home, db_url, params, args)


async def restarted(home: Path, db_url: str, params: Params, args: argparse.Namespace) -> Database:
    tokens, stored = await stored_history(db_url, home, args.stored)
    with hub(home, db_url, extra_env=args.server_env) as server:
        tokens = tokens or await make_agents(db_url, list(SAME))
        db, kept = await history_of(server, tokens, args, home, db_url)
        db.stored = stored
        port = server.port
        progress(f"{home.name}: stopping the server (SIGTERM)")
    # Leaving the block stopped it (SIGKILL after a while); now the same database (and port,
    # so that kept clients find it again).
    with hub(home, db_url, extra_env=args.server_env, port=port) as server:
        db.after_restart = await backlog(db_url)
        progress(f"{home.name}: server started again, r0 {db.after_restart}")
        tokens |= await make_agents(db_url, list(FRESH))
        if args.replay_first is not None:
            await take_replay(server, tokens, args.replay_first)
            db.after_replay = await backlog(db_url)
        phases = [("same_pair", SAME), ("fresh_pair", FRESH)]
        for label, pair in reversed(phases) if args.fresh_first else phases:
            link = kept if kept is not None and pair == SAME else pair_link(server, tokens, pair)
            await measure_pair(label, server, link, params, args.py_spy, db)
    return db


async def take_replay(server: ServerProcess, tokens: dict[str, str], wait: float) -> None:
    """Connect r0 alone, take and ack what the server replays to it, close; then ``wait``
    seconds, so that whatever that set off in the server is over before the measurements."""
    receiver = SAME[1]
    client = Client(server.url, receiver, tokens[receiver], device="bench", timeout=CLIENT_TIMEOUT)
    await client.connect()
    taken = 0
    try:
        while True:
            try:
                message = await client.receive(timeout=1.0)
            except TimeoutError:
                break  # a second without anything: the replay is over
            client.ack(message)
            taken += 1
    finally:
        await client.close()
    progress(f"r0 took its replay alone ({taken:,} messages); waiting {wait:g}s")
    await asyncio.sleep(wait)


def children_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of the live child processes of ``pid`` (None where there is no /proc)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    total = 0.0
    for task in tasks:
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                total += process_cpu_seconds(int(child)) or 0.0
    return total


async def backlog(db_url: str) -> Backlog:
    """Read the database beside the server (SQLite's WAL and PostgreSQL's MVCC: readers do
    not block it)."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            pending = await conn.scalar(
                select(func.count())
                .select_from(deliveries.join(agents, agents.c.id == deliveries.c.recipient_id))
                .where(agents.c.name == SAME[1], deliveries.c.state == "pending")
            )
            total = await conn.scalar(select(func.count()).select_from(deliveries))
    finally:
        await engine.dispose()
    return Backlog(pending=int(pending or 0), deliveries=int(total or 0))


def megabytes(size: int | None) -> str:
    return "n/a" if size is None else f"{size / 1e6:,.0f}"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    params = Params(pairs=1, window=args.window, duration=args.duration, rate=1.0)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="cloudbrain-bench-restart-"))
    workdir.mkdir(parents=True, exist_ok=True)
    databases: dict[str, Database] = {}
    try:
        if not args.skip_no_restart:
            databases["no_restart"] = await no_restart(workdir / "no_restart", params, args)
        databases["restart"] = await with_restart(workdir / "restart", params, args)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results = {r.server: r for db in databases.values() for r in db.results}
    same, fresh = results["same_pair"], results["fresh_pair"]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "parameters": {
            **asdict(params),
            "history": args.history,
            "stored": args.stored,
            "unacked": args.unacked,
            "keep_clients": args.keep_clients,
            "replay_first": args.replay_first,
            "fresh_first": args.fresh_first,
            "server_env": args.server_env,
            "database": "postgresql" if args.db else "sqlite",
        },
        "databases": {name: asdict(db) for name, db in databases.items()},
        "same/fresh": {
            "throughput": round(same.msgs_per_s / fresh.msgs_per_s, 3)
            if fresh.msgs_per_s
            else None,
            "p50_ms": [same.p50_ms, fresh.p50_ms],
            "p99_ms": [same.p99_ms, fresh.p99_ms],
        },
    }


# --- the report and the command line ---------------------------------------------------------


def print_table(doc: dict[str, Any], out: TextIO) -> None:
    head = f"{'phase':<12}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'delivered':>11}"
    head += f"{'srv cpu':>9}{'child cpu':>10}{'gen cpu':>9}{'replayed':>10}{'in s':>7}"
    print(f"\n{head}\n{'-' * len(head)}", file=out)
    for db in doc["databases"].values():
        for r in db["results"]:
            phase = db["phases"][r["server"]]
            print(
                f"{r['server']:<12}{r['msgs_per_s']:>10,.0f}{number(r['p50_ms']):>9}"
                f"{number(r['p99_ms']):>9}{number(r['max_ms']):>9}{r['delivered']:>11,}"
                f"{number(r['server_cpu']):>9}{number(phase['children_cpu']):>10}"
                f"{number(r['loadgen_cpu']):>9}"
                f"{phase['replayed']:>10,}{number(phase['replay_seconds']):>7}",
                file=out,
            )
    ratio = number(doc["same/fresh"]["throughput"], 3)
    print(f"\nsame pair / fresh pair after the restart: x{ratio}", file=out)
    for name, db in doc["databases"].items():
        if stored := db["stored"]:
            print(
                f"{name}: {stored['messages']:,} messages stored before the run in "
                f"{stored['seconds']:g}s ({stored['rows_per_s']:,.0f} rows/s), database "
                f"{megabytes(stored['database_bytes'])} MB",
                file=out,
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.restart",
        description="Flood throughput of a sender/receiver pair with history after the hub "
        "restarted, next to a fresh pair on the same restarted server and to the same pair "
        "without a restart (SQLite, or PostgreSQL with --db). Progress and a table go to stderr, JSON to stdout.",
    )
    parser.add_argument(
        "--history",
        type=positive(int),
        default=20_000,
        help="messages the pair exchanges before the restart (default: %(default)s)",
    )
    parser.add_argument(
        "--stored",
        type=int,
        default=0,
        metavar="N",
        help="before the first server starts on a database, store N messages of an older "
        "history in it, all delivered, among the pair and 8 other agents; README reports "
        "1000000 (default: %(default)s, an empty database)",
    )
    parser.add_argument(
        "--unacked",
        type=int,
        default=0,
        help="then this many more messages with the receiver offline, left for the reconnect "
        "to replay, as when the acks of the last messages are lost at a close "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--keep-clients",
        action="store_true",
        help="keep the pair's clients of the history open: they reconnect by themselves "
        "after the restart and are measured as they are",
    )
    parser.add_argument(
        "--replay-first",
        type=float,
        metavar="SECONDS",
        help="diagnosis: after the restart, let r0 alone take its replay, then wait SECONDS "
        "before the measurements (so that they do not see what the replay sets off)",
    )
    parser.add_argument(
        "--window",
        type=positive(int),
        default=50,
        help="messages the sender keeps in flight, in the history and the measurements "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=positive(float),
        default=3.0,
        help=f"measured seconds per phase, after a {WARMUP_SECONDS:g}s warm-up "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--fresh-first", action="store_true", help="after the restart, measure the fresh pair first"
    )
    parser.add_argument(
        "--skip-no-restart", action="store_true", help="leave out the no-restart control"
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the databases and server logs in DIR"
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="record the server with py-spy (raw collapsed stacks) during each measured phase",
    )
    parser.add_argument(
        "--server-env",
        type=env_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the servers, e.g. CLOUDBRAIN_SPOOL=false (repeatable)",
    )
    parser.add_argument(
        "--db",
        type=local_postgres,
        metavar="URL",
        help="run on PostgreSQL instead of SQLite, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1/test: a fresh database on that server for each "
        "of the two databases of the run, dropped after (the URL's database is only used to "
        "connect)",
    )
    parser.add_argument("--json-only", action="store_true", help="print only the JSON document")
    args = parser.parse_args(argv)
    args.server_env = dict(args.server_env)
    if args.stored < 0:
        parser.error("--stored: a number of messages, 0 or more")
    if args.keep_clients and args.unacked:
        parser.error("--unacked needs the receiver offline: not with --keep-clients")
    return args


def env_setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.startswith("CLOUDBRAIN_"):
        raise argparse.ArgumentTypeError(f"expected CLOUDBRAIN_NAME=VALUE, not {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_quiet(args.json_only)
    doc = asyncio.run(run(args))
    if not args.json_only:
        print_table(doc, sys.stderr)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
