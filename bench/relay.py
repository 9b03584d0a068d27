"""How fast the CloudBrain hub relays messages, next to the least a relay can do, in one run.

    python -m bench.relay              # or `make bench`; about 30 s with the defaults (45 with --db)
    python -m bench.relay --json-only > result.json

Two servers, each a process of its own (the load generator runs here, in this process):

- ``raw``: ``bench.raw_relay``, a bare ``websockets`` relay (no auth, no persistence, no acks);
- ``hub``: ``cloudbrain server`` on a fresh SQLite database, every message stored (and its
  ``fsync`` done) before the sender gets its receipt and the recipient its copy; with ``--db``,
  also ``hub_postgresql`` on a fresh database made on that PostgreSQL server and dropped after.

Each server and load mode gets a fresh server process (and a fresh database), N sender/receiver
pairs (``--pairs``), a warm-up that is not counted, then ``--duration`` measured seconds:

- ``throughput``: every sender keeps ``--window`` messages in flight. For the hub a message is
  in flight from ``Client.send()`` until its receipt (the real client library, receivers ack
  every message); for the raw relay, which has no receipts, until its receiver has it.
- ``paced``: all senders together send ``--rate`` messages per second on a fixed schedule
  (open loop: a slow server does not slow the senders down).

Latency is from the send call to the receiver having the message: the sender puts
``time.perf_counter_ns()`` in the body, and both ends are this process. ``msgs_per_s`` counts
messages *received* in the measured window; ``sent`` counts sends started in it.

Reading the result: ``ratios.hub/raw.throughput`` is the hub's delivered rate as a fraction of
the raw relay's on the same machine and load, so it prices what the hub adds (validation,
authentication, storing every message, receipts, acks) and stays comparable across machines
better than msgs/s do. The p99 latencies of both are printed next to it: under ``throughput``
they are mostly queueing (window x pairs messages in flight), so ``paced`` is the mode to read
for latency; the project's target is a hub p99 under 20 ms at 1,000 msgs/s. ``server_cpu`` and
``loadgen_cpu`` (fractions of one core over the window) tell which side was the bottleneck: a
load generator near 1.0 means the numbers measure the client side, not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TextIO

from websockets.asyncio.client import ClientConnection, connect

from cloudbrain import __version__
from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
WARMUP_SECONDS = 1.0
DRAIN_SECONDS = 5.0  # after the window: time for messages in flight to arrive
START_SECONDS = 20.0  # for a server process to listen
CLIENT_TIMEOUT = 10.0
HUB_RATE_LIMIT = "1000000"  # per connection; the defaults would throttle the benchmark
TARGET_RATE = 1000.0
TARGET_P99_MS = 20.0
MODES = ("throughput", "paced")
NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class Params:
    pairs: int
    window: int
    duration: float
    rate: float
    warmup: float = WARMUP_SECONDS


@dataclass
class Result:
    server: str
    mode: str
    msgs_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    delivered: int
    sent: int
    undelivered: int  # sent during the whole run but not received by the end of the drain
    errors: int
    target_msgs_per_s: float | None
    server_cpu: float | None  # fractions of one core over the window (None without /proc)
    loadgen_cpu: float | None


# --- counting ------------------------------------------------------------------------------


class Tally:
    """Sends and deliveries, and the latencies of deliveries inside the measured window."""

    def __init__(self) -> None:
        self.start_ns = math.inf
        self.end_ns = math.inf
        self.sent = self.delivered = 0
        self.sent_total = self.delivered_total = 0
        self.latencies_ns: list[int] = []
        self.stopped = False
        self.settled = asyncio.Event()  # stopped, and everything sent has arrived

    def begin(self) -> None:
        self.start_ns = time.perf_counter_ns()

    def end(self) -> None:
        self.end_ns = time.perf_counter_ns()

    def stop(self) -> None:
        """No more sends: from now on, wait for the rest to arrive."""
        self.stopped = True
        self._check_settled()

    def _check_settled(self) -> None:
        if self.stopped and self.delivered_total >= self.sent_total:
            self.settled.set()

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def on_sent(self) -> None:
        self.sent_total += 1
        if self.start_ns <= time.perf_counter_ns() < self.end_ns:
            self.sent += 1

    def on_delivered(self, sent_ns: int) -> None:
        now = time.perf_counter_ns()
        self.delivered_total += 1
        if self.start_ns <= now < self.end_ns:
            self.delivered += 1
            self.latencies_ns.append(now - sent_ns)
        self._check_settled()


def percentile_ms(sorted_ns: Sequence[int], fraction: float) -> float | None:
    """Nearest-rank percentile, in milliseconds."""
    if not sorted_ns:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_ns)))
    return round(sorted_ns[rank - 1] / NS_PER_MS, 3)


class CpuMeter:
    """CPU time of this process and of the server process over the measured window."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._start: tuple[float, float, float | None] | None = None
        self._end: tuple[float, float, float | None] | None = None

    def _now(self) -> tuple[float, float, float | None]:
        return time.perf_counter(), time.process_time(), process_cpu_seconds(self.server_pid)

    def begin(self) -> None:
        self._start = self._now()

    def end(self) -> None:
        self._end = self._now()

    def read(self) -> tuple[float | None, float | None]:
        """(server, load generator) as fractions of one core; None where unknown."""
        if self._start is None or self._end is None:
            return None, None
        (wall0, own0, server0), (wall1, own1, server1) = self._start, self._end
        wall = wall1 - wall0
        own = round((own1 - own0) / wall, 2)
        if server0 is None or server1 is None:
            return None, own
        return round((server1 - server0) / wall, 2), own


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields from the 3rd on: state, ppid, ...
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- one sender and one receiver -----------------------------------------------------------


class Link(ABC):
    """A sender/receiver pair as the load generator drives it."""

    def __init__(self, url: str, tally: Tally) -> None:
        self.url = url
        self.tally = tally
        self.on_free: Callable[[], None] = _nothing  # a message left the window
        self.errors = 0
        self.first_error: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    @abstractmethod
    async def open(self) -> None:
        """Connect both ends; return once the receiver is reachable."""

    @abstractmethod
    async def fire(self) -> None:
        """Start sending one message stamped with the current time."""

    async def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    def _error(self, exc: BaseException) -> None:
        if not self._closing:
            self.errors += 1
            self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"


def _nothing() -> None:
    pass


class RawLink(Link):
    """Plain websockets clients of ``bench.raw_relay``: a message frees its window slot when
    its receiver has it, since the relay sends no receipts."""

    def __init__(self, url: str, tally: Tally, sender: str, receiver: str) -> None:
        super().__init__(url, tally)
        self.sender, self.receiver = sender, receiver
        self._rx: ClientConnection | None = None
        self._tx: ClientConnection | None = None

    async def open(self) -> None:
        self._rx = await self._connect(self.receiver)
        self._tx = await self._connect(self.sender)
        self._reader = asyncio.create_task(self._receive(self._rx))

    async def _connect(self, name: str) -> ClientConnection:
        ws = await connect(self.url, compression=None, open_timeout=CLIENT_TIMEOUT)
        await ws.send(json.dumps({"name": name}))
        await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT)  # the welcome
        return ws

    async def _receive(self, ws: ClientConnection) -> None:
        async for frame in ws:
            self.tally.on_delivered(json.loads(frame)["t"])
            self.on_free()

    async def fire(self) -> None:
        assert self._tx is not None
        try:
            await self._tx.send(json.dumps({"to": self.receiver, "t": time.perf_counter_ns()}))
        except Exception as exc:
            self._error(exc)
            self.on_free()

    async def close(self) -> None:
        await super().close()
        for ws in (self._tx, self._rx):
            if ws is not None:
                await ws.close()


class HubLink(Link):
    """Two :class:`Client` objects, as agents use them: a message frees its window slot when
    the sender has its receipt; the receiver acks every message after reading it."""

    def __init__(
        self, url: str, tally: Tally, sender: tuple[str, str], receiver: tuple[str, str]
    ) -> None:
        super().__init__(url, tally)
        self.receiver = receiver[0]
        self._rx = Client(url, *receiver, device="bench", timeout=CLIENT_TIMEOUT)
        self._tx = Client(url, *sender, device="bench", timeout=CLIENT_TIMEOUT)
        self._sends: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        await self._rx.connect()
        await self._tx.connect()
        self._reader = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        while True:
            message = await self._rx.receive()
            self.tally.on_delivered(message.body["t"])
            self._rx.ack(message)

    async def fire(self) -> None:
        task = asyncio.create_task(self._send(time.perf_counter_ns()))
        self._sends.add(task)
        task.add_done_callback(self._sent)

    async def _send(self, stamp: int) -> None:
        await self._tx.send(self.receiver, {"t": stamp})

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._error(task.exception() or RuntimeError())
        self.on_free()

    async def close(self) -> None:
        self._closing = True
        for task in list(self._sends):
            task.cancel()
        await super().close()
        await asyncio.gather(self._tx.close(), self._rx.close(), return_exceptions=True)


# --- load modes ------------------------------------------------------------------------------


async def keep_window(link: Link, window: int, stop: asyncio.Event) -> None:
    """Keep ``window`` messages in flight until ``stop``."""
    slots = asyncio.Semaphore(window)
    link.on_free = slots.release
    while not stop.is_set():
        await slots.acquire()
        if stop.is_set():
            return
        link.tally.on_sent()
        await link.fire()


async def pace(link: Link, rate: float, offset: float, stop: asyncio.Event) -> None:
    """Send ``rate`` messages per second on a fixed schedule, starting ``offset`` seconds in;
    behind schedule, catch up at once rather than send fewer."""
    loop = asyncio.get_running_loop()
    interval, start = 1.0 / rate, loop.time() + offset
    sent = 0
    while not stop.is_set():
        delay = start + sent * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
            continue
        sent += 1
        link.tally.on_sent()
        await link.fire()


async def drive(links: list[Link], mode: str, params: Params, cpu: CpuMeter) -> None:
    """Run the load: warm-up, then the measured window, then the drain."""
    tally = links[0].tally
    stop = asyncio.Event()
    per_link = params.rate / len(links)
    drivers = [
        asyncio.create_task(
            keep_window(link, params.window, stop)
            if mode == "throughput"
            else pace(link, per_link, i / params.rate, stop)
        )
        for i, link in enumerate(links)
    ]
    try:
        await asyncio.sleep(params.warmup)
        tally.begin()
        cpu.begin()
        await asyncio.sleep(params.duration)
        tally.end()
        cpu.end()
    finally:
        stop.set()
        await _finish(drivers)
    tally.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tally.settled.wait(), DRAIN_SECONDS)


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    _, running = await asyncio.wait(tasks, timeout=1.0)
    for task in running:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def measure(
    server: str, mode: str, links: list[Link], params: Params, server_pid: int
) -> Result:
    """Open the links, run one load mode over them, close them and sum up."""
    tally = links[0].tally
    cpu = CpuMeter(server_pid)
    try:
        for link in links:
            await link.open()
        await drive(links, mode, params, cpu)
        server_cpu, loadgen_cpu = cpu.read()
    finally:
        await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
    latencies = sorted(tally.latencies_ns)
    errors = [link.first_error for link in links if link.first_error]
    if errors:
        progress(f"{server} {mode}: {sum(link.errors for link in links)} errors, e.g. {errors[0]}")
    return Result(
        server=server,
        mode=mode,
        msgs_per_s=round(tally.delivered / tally.seconds, 1),
        p50_ms=percentile_ms(latencies, 0.50),
        p99_ms=percentile_ms(latencies, 0.99),
        max_ms=percentile_ms(latencies, 1.0),
        delivered=tally.delivered,
        sent=tally.sent,
        undelivered=tally.sent_total - tally.delivered_total,
        errors=sum(link.errors for link in links),
        target_msgs_per_s=params.rate if mode == "paced" else None,
        server_cpu=server_cpu,
        loadgen_cpu=loadgen_cpu,
    )


# --- server processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                "--port",
                str(self.port),
                cwd=ROOT,  # where `python -m bench.raw_relay` finds its package
                env=self.env,
                stdout=log,
                stderr=log,
            )
        await self._wait_listening()

    async def _wait_listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"{self.argv} exited early:\n{self.log_tail()}")
            try:
                _, writer = await asyncio.open_connection(HOST, self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise TimeoutError(f"{self.argv} not listening after {START_SECONDS:g}s")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def running(server: ServerProcess) -> AsyncIterator[ServerProcess]:
    """The server process, always terminated on the way out."""
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


def hub_env(home: Path, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBRAIN_")}
    env.update(
        CLOUDBRAIN_HOME=str(home),
        CLOUDBRAIN_RATE_PER_SECOND=HUB_RATE_LIMIT,
        CLOUDBRAIN_RATE_BURST=HUB_RATE_LIMIT,
        CLOUDBRAIN_LOG_LEVEL="WARNING",
        CLOUDBRAIN_NODE="bench",
        CLOUDBRAIN_DATABASE_URL=db_url,
        PYTHONUNBUFFERED="1",
    )
    return env


# --- databases -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_postgres(base_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``base_url``, dropped on the way out."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"cloudbrain_bench_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def hub_database(home: Path, postgres: str | None) -> AsyncIterator[str]:
    """The hub's database URL: a fresh PostgreSQL database, or SQLite under ``home``."""
    if postgres is None:
        yield f"sqlite+aiosqlite:///{home / 'cloudbrain.db'}"
        return
    async with fresh_postgres(postgres) as url:
        yield url


async def make_agents(db_url: str, names: list[str]) -> dict[str, str]:
    """Register the agents (the server has migrated the database); returns name -> token."""
    engine = create_engine(db_url)
    try:
        return {name: (await create_agent(engine, name))[1] for name in names}
    finally:
        await engine.dispose()


# --- one benchmark per server and mode -------------------------------------------------------


async def bench_raw(mode: str, params: Params, workdir: Path) -> Result:
    server = ServerProcess(
        [sys.executable, "-m", "bench.raw_relay"], dict(os.environ), workdir / "raw.log"
    )
    async with running(server):
        tally = Tally()
        url = f"ws://{HOST}:{server.port}"
        links: list[Link] = [RawLink(url, tally, f"s{i}", f"r{i}") for i in range(params.pairs)]
        return checked(await measure("raw", mode, links, params, server.pid), server)


async def bench_hub(
    label: str, mode: str, params: Params, workdir: Path, postgres: str | None
) -> Result:
    home = Path(tempfile.mkdtemp(prefix=f"{label}-{mode}-", dir=workdir))
    async with hub_database(home, postgres) as db_url:
        server = ServerProcess(
            [sys.executable, "-m", "cloudbrain", "server"], hub_env(home, db_url), home / "log"
        )
        async with running(server):
            names = [f"{role}{i}" for i in range(params.pairs) for role in ("s", "r")]
            tokens = await make_agents(db_url, names)
            tally = Tally()
            url = f"ws://{HOST}:{server.port}"
            links: list[Link] = [
                HubLink(url, tally, (f"s{i}", tokens[f"s{i}"]), (f"r{i}", tokens[f"r{i}"]))
                for i in range(params.pairs)
            ]
            return checked(await measure(label, mode, links, params, server.pid), server)


def checked(result: Result, server: ServerProcess) -> Result:
    """The result, after showing the server's log if the run went wrong."""
    if result.errors or not result.delivered:
        progress(f"{result.server} {result.mode}: the server's log ends with:\n{server.log_tail()}")
    return result


async def run_all(params: Params, postgres: str | None) -> list[Result]:
    servers = ["raw", "hub"] + (["hub_postgresql"] if postgres else [])
    # Time for one run: start, warm-up, window, drain, stop, and slack for slow machines.
    budget = params.warmup + params.duration + DRAIN_SECONDS + 2 * START_SECONDS
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="cloudbrain-bench-"))
    try:
        for mode in MODES:
            for server in servers:
                progress(
                    f"{server} {mode}: running {params.warmup:g}s warm-up + {params.duration:g}s…"
                )
                if server == "raw":
                    job = bench_raw(mode, params, workdir)
                else:
                    pg = postgres if server == "hub_postgresql" else None
                    job = bench_hub(server, mode, params, workdir, pg)
                result = await asyncio.wait_for(job, budget)
                progress(f"{server} {mode}: {summary(result)}")
                results.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


# --- the report ------------------------------------------------------------------------------

_quiet = False


def progress(line: str) -> None:
    if not _quiet:
        print(line, file=sys.stderr, flush=True)


def summary(r: Result) -> str:
    return (
        f"{r.msgs_per_s:,.0f} msgs/s, p50 {_ms(r.p50_ms)}, p99 {_ms(r.p99_ms)} "
        f"({r.delivered:,} delivered, {r.sent:,} sent)"
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def comparisons(results: list[Result], params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hub/raw ratios, and each hub's standing against the latency target."""
    by = {(r.server, r.mode): r for r in results}
    raw_tp, raw_paced = by[("raw", "throughput")], by[("raw", "paced")]
    ratios: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for label in sorted({r.server for r in results} - {"raw"}):
        tp, paced = by[(label, "throughput")], by[(label, "paced")]
        ratios[f"{label}/raw"] = {
            "throughput": _ratio(tp.msgs_per_s, raw_tp.msgs_per_s),
            "throughput_p99_ms": {"raw": raw_tp.p99_ms, label: tp.p99_ms},
            "paced_p99_ms": {"raw": raw_paced.p99_ms, label: paced.p99_ms},
            "paced_p99": _ratio(paced.p99_ms, raw_paced.p99_ms),
        }
        targets[label] = {
            "rate": params.rate,
            "p99_ms": paced.p99_ms,
            "limit_ms": TARGET_P99_MS,
            "applies": params.rate >= TARGET_RATE,
            "met": paced.p99_ms is not None and paced.p99_ms < TARGET_P99_MS,
        }
    return ratios, targets


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "websockets": package_version("websockets"),
        "sqlite": sqlite3.sqlite_version,
        "cloudbrain": __version__,
    }


def report(results: list[Result], params: Params, postgres: str | None) -> dict[str, Any]:
    ratios, targets = comparisons(results, params)
    grouped: dict[str, dict[str, Any]] = {}
    for r in results:
        row = asdict(r)
        del row["server"], row["mode"]
        grouped.setdefault(r.server, {})[r.mode] = row
    parameters = {**asdict(params), "body": '{"t": perf_counter_ns}', "drain": DRAIN_SECONDS}
    if postgres:
        from sqlalchemy.engine import make_url

        parameters["postgresql"] = make_url(postgres).render_as_string(hide_password=True)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "parameters": parameters,
        "results": grouped,
        "ratios": ratios,
        "target": targets,
    }


def print_table(doc: dict[str, Any], results: list[Result], out: TextIO) -> None:
    head = f"{'server':<15}{'mode':<11}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    head += f"{'sent':>9}{'delivered':>11}{'srv cpu':>9}{'gen cpu':>9}"
    print(f"\n{head}\n{'-' * len(head)}", file=out)
    for r in results:
        print(
            f"{r.server:<15}{r.mode:<11}{r.msgs_per_s:>10,.0f}{_num(r.p50_ms):>9}"
            f"{_num(r.p99_ms):>9}{_num(r.max_ms):>9}{r.sent:>9,}{r.delivered:>11,}"
            f"{_num(r.server_cpu):>9}{_num(r.loadgen_cpu):>9}",
            file=out,
        )
    print(file=out)
    for name, ratio in doc["ratios"].items():
        label = name.split("/")[0]
        print(
            f"{name}: throughput x{_num(ratio['throughput'], 3)}; p99 under throughput "
            f"{_num(ratio['throughput_p99_ms']['raw'])} vs {_num(ratio['throughput_p99_ms'][label])} ms, "
            f"paced {_num(ratio['paced_p99_ms']['raw'])} vs {_num(ratio['paced_p99_ms'][label])} ms",
            file=out,
        )
    for label, target in doc["target"].items():
        verdict = "met" if target["met"] else "MISSED"
        if not target["applies"]:
            verdict += f" (but the target is for {TARGET_RATE:,.0f} msgs/s)"
        print(
            f"{label} paced p99 at {target['rate']:,.0f} msgs/s: {_num(target['p99_ms'])} ms "
            f"(target < {TARGET_P99_MS:g} ms: {verdict})",
            file=out,
        )


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


# --- the command line ------------------------------------------------------------------------


def positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    return parse


def local_postgres(text: str) -> str:
    """Check a --db URL: PostgreSQL, on this machine (the benchmark talks to nothing else)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if url.get_backend_name() != "postgresql":
        raise argparse.ArgumentTypeError("expected a postgresql+asyncpg://... URL")
    if url.host not in (None, "", "127.0.0.1", "localhost", "::1"):
        raise argparse.ArgumentTypeError("the database must be on this machine (127.0.0.1)")
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay",
        description="Benchmark the CloudBrain hub against a bare websockets relay (the "
        "baseline), each as its own process, under the same load: a throughput run (a window "
        "of messages in flight per sender) and a paced run (a fixed total rate). Progress and "
        "a table go to stderr, a JSON document to stdout.",
        epilog="Read ratios['hub/raw'].throughput as the share of the bare relay's throughput "
        "the hub keeps while storing every message; read the paced p99 for latency (target: "
        f"under {TARGET_P99_MS:g} ms at {TARGET_RATE:,.0f} msgs/s). Exits 1 when a run "
        "delivered nothing (the JSON is printed all the same).",
    )
    parser.add_argument(
        "--pairs",
        type=positive(int),
        default=10,
        help="sender/receiver pairs, each two connections (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=positive(int),
        default=50,
        help="throughput mode: messages each sender keeps in flight; for the hub, sent and "
        "not yet receipted (default: %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=positive(float),
        default=5.0,
        help="measured seconds per server and mode, after a "
        f"{WARMUP_SECONDS:g}s warm-up that is not counted (default: %(default)s)",
    )
    parser.add_argument(
        "--rate",
        type=positive(float),
        default=TARGET_RATE,
        help="paced mode: messages per second, all pairs together (default: %(default)s)",
    )
    parser.add_argument(
        "--db",
        type=local_postgres,
        metavar="URL",
        help="also benchmark the hub on PostgreSQL, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1/test: a fresh database is created on that "
        "server for each run and dropped after (the URL's database is only used to connect)",
    )
    parser.add_argument(
        "--json-only",
        action="store_true",
        help="print only the JSON document (on stdout): no progress lines or table on stderr",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    global _quiet
    args = parse_args(argv)
    _quiet = args.json_only
    params = Params(pairs=args.pairs, window=args.window, duration=args.duration, rate=args.rate)
    results = asyncio.run(run_all(params, args.db))
    doc = report(results, params, args.db)
    if not args.json_only:
        print_table(doc, results, sys.stderr)
    print(json.dumps(doc, indent=2))
    if any(not r.delivered for r in results):
        progress("some runs delivered nothing: the numbers above measure a failure")
        sys.exit(1)


if __name__ == "__main__":
    main()
