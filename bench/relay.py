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

This module is the command line, the runs and the report; the load is made by ``bench.load``
over ``bench.links``, counted by ``bench.counting``, against the servers of ``bench.servers``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TextIO

from bench.counting import Tally
from bench.links import HubLink, Link, RawLink
from bench.load import DRAIN_SECONDS, WARMUP_SECONDS, Params, Result, measure
from bench.progress import local_postgres, number, positive, progress, set_quiet
from bench.servers import hub, hub_database, make_agents, raw_relay
from cloudbrain import __version__
from tests.processes import START_SECONDS, ListeningProcess

TARGET_RATE = 1000.0
TARGET_P99_MS = 20.0
MODES = ("throughput", "paced")


# --- one benchmark per server and mode -------------------------------------------------------


async def bench_raw(mode: str, params: Params, workdir: Path) -> Result:
    # Starting and stopping a server (here and in bench_hub) block the event loop, on purpose:
    # nothing else runs then, and a start that cannot be cancelled halfway leaves no server behind.
    with raw_relay(workdir / "raw.log") as server:
        tally = Tally()
        links: list[Link] = [
            RawLink(server.url, tally, f"s{i}", f"r{i}") for i in range(params.pairs)
        ]
        return checked(await measure("raw", mode, links, params, server.pid), server)


async def bench_hub(
    label: str, mode: str, params: Params, workdir: Path, postgres: str | None
) -> Result:
    home = Path(tempfile.mkdtemp(prefix=f"{label}-{mode}-", dir=workdir))
    async with hub_database(home, postgres) as db_url:
        with hub(home, db_url) as server:
            names = [f"{role}{i}" for i in range(params.pairs) for role in ("s", "r")]
            tokens = await make_agents(db_url, names)
            tally = Tally()
            links: list[Link] = [
                HubLink(server.url, tally, (f"s{i}", tokens[f"s{i}"]), (f"r{i}", tokens[f"r{i}"]))
                for i in range(params.pairs)
            ]
            return checked(await measure(label, mode, links, params, server.pid), server)


def checked(result: Result, server: ListeningProcess) -> Result:
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
            f"{r.server:<15}{r.mode:<11}{r.msgs_per_s:>10,.0f}{number(r.p50_ms):>9}"
            f"{number(r.p99_ms):>9}{number(r.max_ms):>9}{r.sent:>9,}{r.delivered:>11,}"
            f"{number(r.server_cpu):>9}{number(r.loadgen_cpu):>9}",
            file=out,
        )
    print(file=out)
    for name, ratio in doc["ratios"].items():
        label = name.split("/")[0]
        print(
            f"{name}: throughput x{number(ratio['throughput'], 3)}; p99 under throughput "
            f"{number(ratio['throughput_p99_ms']['raw'])} vs {number(ratio['throughput_p99_ms'][label])} ms, "
            f"paced {number(ratio['paced_p99_ms']['raw'])} vs {number(ratio['paced_p99_ms'][label])} ms",
            file=out,
        )
    for label, target in doc["target"].items():
        verdict = "met" if target["met"] else "MISSED"
        if not target["applies"]:
            verdict += f" (but the target is for {TARGET_RATE:,.0f} msgs/s)"
        print(
            f"{label} paced p99 at {target['rate']:,.0f} msgs/s: {number(target['p99_ms'])} ms "
            f"(target < {TARGET_P99_MS:g} ms: {verdict})",
            file=out,
        )


# --- the command line ------------------------------------------------------------------------


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
    args = parse_args(argv)
    set_quiet(args.json_only)
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
