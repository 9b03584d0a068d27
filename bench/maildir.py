"""How fast mail gets into CloudBrain: an agent's outbox flushed, and mail through the SMTP
gateway, each next to a baseline measured in the same run.

    python -m bench.maildir                 # about 3.5 minutes with the defaults, on 2 cores
    python -m bench.maildir --no-postgres --mails 500 --json-only > result.json

Options: ``--mails N`` (mails per measurement, default 5000), ``--connections K`` (SMTP client
connections, default 8), ``--warmup W`` (uncounted messages first, default 200), ``--postgres
URL`` / ``--no-postgres``, ``--max-seconds``, ``--json-only``.

Each backend gets a fresh database and a fresh server: SQLite (a temporary file) and PostgreSQL
(a new database made on the ``--postgres`` server and dropped after; ``--no-postgres`` skips it).
The server is ``cloudbrain server`` as a process of its own (so it has a core of its own; the
load is made in this process), with rate limits out of the way as in ``bench.relay``, its SMTP
gateway on a free port and its spool on, as by default: ``bob`` never connects, so every
message to him also gets a Maildir copy in the server's spool. Agents ``alice`` and ``bob`` are
registered; ``--warmup`` direct messages and as many mails (through the gateway) go first,
uncounted. Then, one after the other:

1. ``flush``: ``--mails`` mails from alice to bob (``outgoing_mail``, each under its own
   envelope id) are written into alice's outbox Maildir with ``put_once`` (``write_seconds``,
   not part of the rate), then ``flush(LocalMail, ClientOutlet(client))`` is timed, from the
   call to its report, with one connected ``Client`` as alice: it reads and parses every mail,
   sends each (``IN_FLIGHT`` of them awaiting their receipt at a time) and moves it to ``cur``.
   ``baseline`` is the same number of messages (same body and subject) sent by the same client
   with ``client.send``, pipelined the same way (``IN_FLIGHT`` in flight), no Maildir; it runs
   first. ``ratio`` is flush over baseline, in messages per second.
2. ``smtp``: ``--connections`` SMTP connections (stdlib ``smtplib``, one thread each, opened and
   greeted before the clock starts) each send their share of ``--mails`` mails from
   alice@cloudbrain.local to bob@cloudbrain.local (loopback: no AUTH), each with its own
   Message-ID, one after the other on the connection. ``per_s`` counts the mails accepted
   (250) from the start to the last reply; ``latency_ms`` is the time of each
   ``sendmail`` call (MAIL, RCPT, DATA: the gateway answers DATA only after the database
   stored the message). ``baseline`` is a bare aiosmtpd ``Controller`` in a process of its
   own, whose handler only adds each mail to a Maildir with the standard library's
   ``mailbox`` (no parsing, no database, no fsync), fed by the same clients the same way.
   ``ratio`` is the gateway's mails/s over the baseline's.

After each run the database is checked: bob's deliveries grew by exactly the number sent, the
flush reported every mail sent and left ``outbox/new`` empty, and the baseline's Maildir holds
every mail (``checks``; ``all_checks_passed``). Before each run the server's spool is given
time to catch up with the database, so one run's leftover work does not slow the next.
``server_cpu`` and ``bench_cpu`` are the CPU time of the server (or the baseline server) and of
this process over the timed part, as fractions of one core: one near 1.0 was the bottleneck
(PostgreSQL's own processes are in neither).

Reading the result: ``target`` holds each backend's SMTP mails/s against the project's 500
mails/s ingested with persistence. Progress lines and a table go to stderr, the JSON document
to stdout. The run stops after ``--max-seconds``, printing what it measured so far with
``"complete": false``, and exits 1; it also exits 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import multiprocessing
import shutil
import smtplib
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.counting import CpuMeter
from bench.progress import (
    add_postgres_options,
    add_run_options,
    number,
    positive,
    progress,
    set_quiet,
)
from bench.recall import percentile, run_and_report, versions
from bench.servers import HUB_RATE_LIMIT, ROOT, hub_database, make_agents
from cloudbrain.agent.client import Client
from cloudbrain.cli.outbox import ClientOutlet
from cloudbrain.db import create_engine
from cloudbrain.db.models import Agent, Delivery
from cloudbrain.ids import new_id
from cloudbrain.maildir.flush import IN_FLIGHT, LocalMail, flush
from cloudbrain.maildir.folders import counts, put_once
from cloudbrain.maildir.mapping import DEFAULT_DOMAIN, outgoing_mail
from tests.processes import HOST, START_SECONDS, ServerProcess, free_port, wait_for_port

SENDER, RECIPIENT = "alice", "bob"
MAIL_FROM, RCPT_TO = f"{SENDER}@{DEFAULT_DOMAIN}", f"{RECIPIENT}@{DEFAULT_DOMAIN}"
TARGET_MAILS_PER_S = 500.0
CLIENT_TIMEOUT = 60.0  # seconds for a receipt (Client) or an SMTP reply
SETTLE_SECONDS = 60.0  # for the server's spool to catch up with the database


# --- the mails -------------------------------------------------------------------------------


def body_of(i: int) -> str:
    return f"Benchmark mail {i} from {SENDER} to {RECIPIENT}: the build is green again."


def subject_of(i: int) -> str:
    return f"benchmark {i}"


def mail_of(i: int, envelope: str) -> EmailMessage:
    """Mail number ``i`` from alice to bob, its Message-ID made from ``envelope``."""
    return outgoing_mail(
        sender=SENDER,
        to=RCPT_TO,
        body=body_of(i),
        subject=subject_of(i),
        domain=DEFAULT_DOMAIN,
        envelope=envelope,
    )


def smtp_batches(total: int, connections: int) -> list[list[bytes]]:
    """``total`` mails as SMTP sends them (CRLF line ends), each with a Message-ID of its own,
    dealt out to the connections."""
    mails = [mail_of(i, new_id()).as_bytes(policy=policy.SMTP) for i in range(total)]
    return [mails[k::connections] for k in range(connections)]


# --- the servers -----------------------------------------------------------------------------


def mail_hub(home: Path, db_url: str, smtp_port: int) -> ServerProcess:
    """``cloudbrain server`` as ``bench.servers.hub`` makes it, with its gateway on
    ``smtp_port``."""
    return ServerProcess(
        home,
        db_url,
        log=home / "log",
        node="bench",
        extra_env={
            "CLOUDBRAIN_RATE_PER_SECOND": HUB_RATE_LIMIT,
            "CLOUDBRAIN_RATE_BURST": HUB_RATE_LIMIT,
            "CLOUDBRAIN_LOG_LEVEL": "WARNING",
            "CLOUDBRAIN_SMTP_PORT": str(smtp_port),
        },
        cwd=ROOT,
    )


class MaildirHandler:
    """The baseline's aiosmtpd handler: each mail added to a Maildir, nothing else."""

    def __init__(self, folder: Path) -> None:
        self.maildir = mailbox.Maildir(folder, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.maildir.add(envelope.original_content or b"")
        return "250 OK"


def _serve_plain_smtp(port: int, folder: str, ready: Any, stop: Any) -> None:
    """The baseline server's process: an aiosmtpd Controller until ``stop`` is set."""
    from aiosmtpd.controller import Controller

    controller = Controller(MaildirHandler(Path(folder)), hostname=HOST, port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


@asynccontextmanager
async def plain_smtp(folder: Path) -> AsyncIterator[tuple[int, int]]:
    """The baseline SMTP server, in a process of its own; yields (port, pid)."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    port = free_port()
    process = context.Process(
        target=_serve_plain_smtp, args=(port, str(folder), ready, stop), daemon=True
    )
    process.start()
    try:
        if not await asyncio.to_thread(ready.wait, START_SECONDS):
            raise TimeoutError(f"the baseline SMTP server did not start in {START_SECONDS}s")
        assert process.pid is not None
        yield port, process.pid
    finally:
        stop.set()
        await asyncio.to_thread(process.join, 15)
        if process.is_alive():
            process.kill()
            process.join()


# --- the database ----------------------------------------------------------------------------


async def deliveries_to(engine: AsyncEngine, name: str) -> int:
    """How many deliveries to the agent ``name`` the database holds."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            select(func.count())
            .select_from(Delivery)
            .join(Agent, Delivery.recipient_id == Agent.id)
            .where(Agent.name == name)
        )
    return int(found or 0)


async def settle(engine: AsyncEngine, spool: Path) -> bool:
    """Wait until the server's spool holds a copy of every delivery to bob: True once it does."""
    deadline = time.monotonic() + SETTLE_SECONDS
    expected = await deliveries_to(engine, RECIPIENT)
    while time.monotonic() < deadline:
        held = counts(spool)
        if held.new + held.cur >= expected:
            return True
        await asyncio.sleep(0.1)
    return False


# --- timing ----------------------------------------------------------------------------------


@dataclass
class Timed:
    seconds: float
    server_cpu: float | None
    bench_cpu: float | None


class Stopwatch:
    """Wall time, and CPU time here and on the server, from ``start()`` to ``stop()``."""

    def __init__(self, server_pid: int) -> None:
        self.cpu = CpuMeter(server_pid)
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        self.cpu.begin()

    def stop(self) -> Timed:
        self.cpu.end()
        seconds = time.perf_counter() - self.started
        server_cpu, bench_cpu = self.cpu.read()
        return Timed(seconds, server_cpu, bench_cpu)


async def timed(job: Callable[[], Awaitable[Any]], server_pid: int) -> tuple[Any, Timed]:
    """``job()``'s result, and how long it took and what CPU it used here and on the server."""
    watch = Stopwatch(server_pid)
    watch.start()
    result = await job()
    return result, watch.stop()


def rate(count: int, t: Timed) -> dict[str, Any]:
    return {
        "per_s": round(count / t.seconds, 1),
        "seconds": round(t.seconds, 3),
        "server_cpu": t.server_cpu,
        "bench_cpu": t.bench_cpu,
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


# --- 1. the outbox flush ---------------------------------------------------------------------


async def send_directly(client: Client, count: int) -> None:
    """The flush's baseline: the same messages with ``client.send``, IN_FLIGHT at a time."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with slots:
            await client.send(
                RECIPIENT, body_of(i), message_id=new_id(), meta={"subject": subject_of(i)}
            )

    await asyncio.gather(*(one(i) for i in range(count)))


def write_outbox(local: LocalMail, count: int) -> None:
    """``count`` mails into the outbox, each under its envelope id, as ``send --offline`` does."""
    for i in range(count):
        envelope = new_id()
        put_once(local.outbox, envelope, mail_of(i, envelope))


async def bench_flush(
    client: Client, engine: AsyncEngine, local: LocalMail, mails: int, server_pid: int
) -> dict[str, Any]:
    before = await deliveries_to(engine, RECIPIENT)
    _, base = await timed(lambda: send_directly(client, mails), server_pid)
    base_delivered = await deliveries_to(engine, RECIPIENT) - before
    progress(f"  client.send baseline: {mails / base.seconds:,.0f} msgs/s")

    started = time.perf_counter()
    await asyncio.to_thread(write_outbox, local, mails)
    write_seconds = time.perf_counter() - started
    before = await deliveries_to(engine, RECIPIENT)
    report, t = await timed(lambda: flush(local, ClientOutlet(client)), server_pid)
    delivered = await deliveries_to(engine, RECIPIENT) - before
    outbox = counts(local.outbox)
    progress(f"  flush: {mails / t.seconds:,.0f} msgs/s ({report.sent:,} sent)")
    checks = {
        "deliveries": delivered,
        "baseline_deliveries": base_delivered,
        "expected": mails,
        "report": {"sent": report.sent, "refused": report.refused, "left": report.left},
        "outbox_new": outbox.new,
        "outbox_cur": outbox.cur,
    }
    checks["ok"] = (
        delivered == base_delivered == report.sent == outbox.cur == mails and outbox.new == 0
    )
    return {
        "mails": mails,
        "write_seconds": round(write_seconds, 3),
        "write_per_s": round(mails / write_seconds, 1),
        **rate(mails, t),
        "baseline": rate(mails, base),
        "ratio": _ratio(mails / t.seconds, mails / base.seconds),
        "checks": checks,
    }


# --- 2. SMTP ingest --------------------------------------------------------------------------


@dataclass
class SmtpLoad:
    accepted: int
    latencies_ms: list[float]
    errors: int
    first_error: str | None


def smtp_load(port: int, batches: list[list[bytes]], server_pid: int) -> tuple[SmtpLoad, Timed]:
    """Send each batch over a connection of its own, one thread per connection. The threads
    start together once every connection is open and greeted: the clock runs from then until
    the last mail's reply."""
    connections = [smtplib.SMTP(HOST, port, timeout=CLIENT_TIMEOUT) for _ in batches]
    for smtp in connections:
        smtp.ehlo("bench.localhost")
    watch = Stopwatch(server_pid)
    start = threading.Barrier(len(batches), action=watch.start)
    latencies: list[list[float]] = [[] for _ in batches]
    errors: list[str] = []

    def run(smtp: smtplib.SMTP, batch: list[bytes], times: list[float]) -> None:
        start.wait()
        for data in batch:
            started = time.perf_counter()
            try:
                smtp.sendmail(MAIL_FROM, [RCPT_TO], data)
            except (smtplib.SMTPException, OSError) as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            times.append((time.perf_counter() - started) * 1000)

    threads = [
        threading.Thread(target=run, args=job, daemon=True)
        for job in zip(connections, batches, latencies, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        timing = watch.stop()
    finally:
        for smtp in connections:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    every = [t for times in latencies for t in times]
    return SmtpLoad(len(every), every, len(errors), errors[0] if errors else None), timing


async def run_smtp(port: int, batches: list[list[bytes]], pid: int) -> dict[str, Any]:
    load, t = await asyncio.to_thread(smtp_load, port, batches, pid)
    ms = load.latencies_ms
    return {
        "accepted": load.accepted,
        **rate(load.accepted, t),
        "latency_ms": {
            "p50": round(percentile(ms, 50), 2) if ms else None,
            "p99": round(percentile(ms, 99), 2) if ms else None,
            "mean": round(sum(ms) / len(ms), 2) if ms else None,
            "max": round(max(ms), 2) if ms else None,
        },
        "errors": load.errors,
        "first_error": load.first_error,
    }


async def bench_smtp(
    smtp_port: int,
    engine: AsyncEngine,
    workdir: Path,
    mails: int,
    connections: int,
    server_pid: int,
) -> dict[str, Any]:
    before = await deliveries_to(engine, RECIPIENT)
    hub = await run_smtp(smtp_port, smtp_batches(mails, connections), server_pid)
    delivered = await deliveries_to(engine, RECIPIENT) - before
    progress(
        f"  SMTP gateway: {hub['per_s']:,.0f} mails/s, p50 {hub['latency_ms']['p50']} ms, "
        f"p99 {hub['latency_ms']['p99']} ms ({hub['errors']} errors)"
    )
    folder = Path(tempfile.mkdtemp(prefix="plain-smtp-", dir=workdir)) / "Maildir"
    async with plain_smtp(folder) as (port, pid):
        base = await run_smtp(port, smtp_batches(mails, connections), pid)
    kept = counts(folder).new
    progress(f"  plain aiosmtpd + mailbox: {base['per_s']:,.0f} mails/s")
    checks = {
        "deliveries": delivered,
        "baseline_maildir": kept,
        "expected": mails,
        "ok": delivered == hub["accepted"] == mails and kept == base["accepted"] == mails,
    }
    return {
        "connections": connections,
        "mails": mails,
        **hub,
        "baseline": base,
        "ratio": _ratio(hub["per_s"], base["per_s"]),
        "checks": checks,
    }


# --- one backend -----------------------------------------------------------------------------


async def warm_up(client: Client, smtp_port: int, count: int, server_pid: int) -> None:
    """Uncounted: direct messages and mails, so that statements are compiled and pools full."""
    await send_directly(client, count)
    await asyncio.to_thread(smtp_load, smtp_port, smtp_batches(count, 1), server_pid)


async def bench_backend(
    backend: str, postgres: str | None, params: Params, workdir: Path, out: dict[str, Any]
) -> None:
    home = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=workdir))
    smtp_port = free_port()
    async with hub_database(home, postgres if backend == "postgresql" else None) as db_url:
        with mail_hub(home, db_url, smtp_port) as server:
            await asyncio.to_thread(wait_for_port, smtp_port)
            tokens = await make_agents(db_url, [SENDER, RECIPIENT])
            engine = create_engine(db_url)
            client = Client(server.url, SENDER, tokens[SENDER], device="bench", timeout=60)
            spool = home / "spool" / RECIPIENT
            settled: list[bool] = []
            try:
                await client.connect()
                progress(f"{backend}: warming up with {params.warmup} messages and mails…")
                await warm_up(client, smtp_port, params.warmup, server.pid)
                settled.append(await settle(engine, spool))
                progress(f"{backend}: outbox flush of {params.mails:,} mails…")
                local = LocalMail(home / "alice-mail", DEFAULT_DOMAIN, SENDER)
                out["flush"] = await bench_flush(client, engine, local, params.mails, server.pid)
                settled.append(await settle(engine, spool))
                progress(f"{backend}: SMTP, {params.connections} connections…")
                out["smtp"] = await bench_smtp(
                    smtp_port, engine, workdir, params.mails, params.connections, server.pid
                )
                settled.append(await settle(engine, spool))
                out["spool_settled"] = all(settled)
            except Exception:
                progress(f"{backend}: the server's log ends with:\n{server.log_tail()}")
                raise
            finally:
                await client.close()
                await engine.dispose()


# --- the runs and the report -----------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    mails: int
    connections: int
    warmup: int


async def run_all(params: Params, postgres: str | None, doc: dict[str, Any]) -> None:
    """Each backend in turn, its results put into ``doc`` as soon as they are known."""
    backends = ["sqlite"] + (["postgresql"] if postgres else [])
    workdir = Path(tempfile.mkdtemp(prefix="cloudbrain-maildir-"))
    try:
        for backend in backends:
            started = time.perf_counter()
            out = doc["results"].setdefault(backend, {})
            await bench_backend(backend, postgres, params, workdir, out)
            doc["phases_s"][backend] = round(time.perf_counter() - started, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        doc["all_checks_passed"] = all_checks_passed(doc)


def targets(doc: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"what": "SMTP mails/s ingested with persistence, per backend"}
    for backend, r in doc["results"].items():
        per_s = r.get("smtp", {}).get("per_s")
        found[backend] = {
            "mails_per_s": per_s,
            "limit": TARGET_MAILS_PER_S,
            "met": None if per_s is None else per_s >= TARGET_MAILS_PER_S,
        }
    return found


def all_checks_passed(doc: dict[str, Any]) -> bool:
    runs = [
        r
        for backend in doc["results"].values()
        for r in backend.values()
        if isinstance(r, dict) and "checks" in r
    ]
    return bool(runs) and all(r["checks"]["ok"] for r in runs)


def print_table(doc: dict[str, Any], out: TextIO) -> None:
    head = f"{'backend':<12}{'run':<7}{'per s':>9}{'baseline':>10}{'ratio':>7}"
    head += f"{'p50 ms':>8}{'p99 ms':>8}{'srv cpu':>9}{'checks':>8}"
    print(f"\n{head}\n{'-' * len(head)}", file=out)
    for backend, results in doc["results"].items():
        for run in ("flush", "smtp"):
            r = results.get(run)
            if r is None:
                continue
            latency = r.get("latency_ms", {})
            print(
                f"{backend:<12}{run:<7}{r['per_s']:>9,.0f}{r['baseline']['per_s']:>10,.0f}"
                f"{number(r['ratio'], 3):>7}{number(latency.get('p50')):>8}"
                f"{number(latency.get('p99')):>8}{number(r['server_cpu']):>9}"
                f"{'ok' if r['checks']['ok'] else 'FAILED':>8}",
                file=out,
            )
    print(file=out)
    for backend, t in doc["target"].items():
        if backend == "what":
            continue
        verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "MISSED")
        print(
            f"target: {backend} SMTP {number(t['mails_per_s'], 0)} mails/s "
            f"(>= {TARGET_MAILS_PER_S:g} with persistence: {verdict})",
            file=out,
        )


# --- the command line ------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.maildir",
        description="Benchmark mail into CloudBrain on SQLite and PostgreSQL: an outbox "
        "Maildir flushed by a connected client (baseline: the same messages sent with "
        "client.send) and mail through the SMTP gateway (baseline: a bare aiosmtpd server "
        "writing to a Maildir). Progress and a table go to stderr, a JSON document to stdout.",
        epilog=f"Target: at least {TARGET_MAILS_PER_S:g} mails/s through the SMTP gateway, "
        "stored. Exits 1 when the run did not complete or a check failed.",
    )
    parser.add_argument(
        "--mails",
        type=positive(int),
        default=5000,
        help="mails flushed, and mails sent through SMTP, per backend (default: %(default)s)",
    )
    parser.add_argument(
        "--connections",
        type=positive(int),
        default=8,
        help="concurrent SMTP client connections, a thread each (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=positive(int),
        default=200,
        help="uncounted direct messages, and as many mails, before the runs (default: %(default)s)",
    )
    add_postgres_options(parser)
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_quiet(args.json_only)
    postgres = None if args.no_postgres else args.postgres
    params = Params(mails=args.mails, connections=args.connections, warmup=args.warmup)
    machine = versions()
    machine["aiosmtpd"] = package_version("aiosmtpd")
    doc: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "parameters": {
            "mails": params.mails,
            "connections": params.connections,
            "warmup": params.warmup,
            "in_flight": IN_FLIGHT,
            "spool": True,
        },
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
