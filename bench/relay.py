"""How fast the CloudBrain hub relays messages, next to the least a relay can do, in one run.

    python -m bench.relay              # or `make bench`; about 60 s (90 with --db)
    python -m bench.relay --modes roundtrip,fanout --duration 2
    python -m bench.relay --json-only > result.json
    python -m bench.relay --tls --modes throughput,roundtrip   # both servers over wss://

Two servers, each a process of its own (the load generator runs here, in this process):

- ``raw``: ``bench.raw_relay``, a bare ``websockets`` relay (no auth, no persistence, no acks);
- ``hub``: ``cloudbrain server`` on a fresh SQLite database, every message stored (and its
  ``fsync`` done) before the sender gets its receipt and the recipient its copy; with ``--db``,
  also ``hub_postgresql`` on a fresh database made on that PostgreSQL server and dropped after.

Each server and load mode (``--modes``) gets a fresh server process (and a fresh database), a
warm-up that is not counted, then ``--duration`` measured seconds:

- ``throughput``: N sender/receiver pairs (``--pairs``), every sender keeping ``--window``
  messages in flight. For the hub a message is in flight from ``Client.send()`` until its
  receipt (the real client library, receivers ack every message); for the raw relay, which has
  no receipts, until its receiver has it.
- ``paced``: the N pairs together send ``--rate`` messages per second on a fixed schedule
  (open loop: a slow server does not slow the senders down).
- ``roundtrip``: one pair, one message at a time: the sender sends the next as soon as the
  receiver has the last (the hub's receipt is not waited for). ``msgs/s`` is then round trips
  per second, and the latencies are the server's alone, with no queue ahead of a message.
- ``fanout``: one publisher and ``--subscribers`` clients of one topic, each its own
  connection (hub: each subscribed with ``Client.subscribe`` and acking every message, the
  publisher calling ``Client.publish``; raw: the relay copies a ``topic`` frame to every
  connection that joined it). The publisher keeps ``--window`` messages in flight, a message
  leaving the window once every subscriber has it. ``msgs/s`` counts deliveries, to all the
  subscribers together; ``sent`` counts publishes.

With ``--tls``, both servers listen for wss:// with a certificate made for the run (a new CA
and a server certificate for 127.0.0.1 and localhost, in the run's temporary folder), the same
server TLS settings for both, and every client, hub or raw, trusts that CA with the same client
context: a run with ``--tls`` next to one without prices TLS, for the hub and for the least a
relay can do (their ratio tells whether TLS narrows the gap). The report's
``parameters.tls`` says which it was.

Latency is from the send call to the receiver having the message: the sender puts
``time.perf_counter_ns()`` in the body, and both ends are this process. ``msgs_per_s`` counts
messages *received* in the measured window; ``sent`` counts sends started in it.

Reading the result: ``ratios.hub/raw.throughput`` is the hub's delivered rate as a fraction of
the raw relay's on the same machine and load, so it prices what the hub adds (validation,
authentication, storing every message, receipts, acks) and stays comparable across machines
better than msgs/s do; ``fanout`` is the same for topic deliveries (target: at least 0.5). The
p99 latencies of both are printed next to it: under ``throughput`` they are mostly queueing
(window x pairs messages in flight), so ``paced`` is the mode to read for latency (target: a
hub p99 under 20 ms at 1,000 msgs/s) and ``roundtrip`` for the least a message can take
(target: a hub p50 of at most 1 ms). ``server_cpu`` and ``loadgen_cpu`` (fractions of one core
over the window) tell which side was the bottleneck: a load generator near 1.0 means the numbers
measure the client side, not the server. ``server_cpu_s_per_1k`` (the server's CPU seconds per
1,000 messages delivered; in ``fanout``, per 1,000 deliveries) prices a message in every mode,
busy or not, and ``server_peak_rss_mib`` is the server's peak resident memory (VmHWM) over its
run. Both are of the server's own process: not of PostgreSQL's, with ``--db``.

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
import ssl
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TextIO

from bench.counting import Tally
from bench.links import HubFanout, HubLink, Link, RawFanout, RawLink
from bench.load import DRAIN_SECONDS, WARMUP_SECONDS, Params, Result, measure
from bench.progress import local_postgres, number, positive, progress, set_quiet
from bench.servers import Transport, hub, hub_database, make_agents, raw_relay
from cloudbrain import __version__
from cloudbrain.tls import Trust
from tests.processes import START_SECONDS, ListeningProcess

TARGET_RATE = 1000.0
TARGET_P99_MS = 20.0
TARGET_ROUNDTRIP_P50_MS = 1.0
TARGET_FANOUT_RATIO = 0.5
MODES = ("throughput", "paced", "roundtrip", "fanout")
# Seconds for a fan-out run to open its connections and subscribe, on top of a pair run's.
FANOUT_SETUP_SECONDS = 20.0


# --- one benchmark per server and mode -------------------------------------------------------


async def bench_raw(mode: str, params: Params, workdir: Path, transport: Transport) -> Result:
    # Starting and stopping a server (here and in bench_hub) block the event loop, on purpose:
    # nothing else runs then, and a start that cannot be cancelled halfway leaves no server behind.
    with raw_relay(workdir / "raw.log", transport) as server:
        url, tally = transport.url(server), new_tally(mode, params)
        links = raw_links(url, transport.trust, tally, mode, params)
        return checked(await measure("raw", mode, links, params, server.pid), server)


async def bench_hub(
    label: str,
    mode: str,
    params: Params,
    workdir: Path,
    postgres: str | None,
    transport: Transport,
) -> Result:
    home = Path(tempfile.mkdtemp(prefix=f"{label}-{mode}-", dir=workdir))
    async with hub_database(home, postgres) as db_url:
        with hub(home, db_url, extra_env=transport.hub_env()) as server:
            url, tally = transport.url(server), new_tally(mode, params)
            links = await hub_links(url, transport.trust, db_url, tally, mode, params)
            return checked(await measure(label, mode, links, params, server.pid), server)


def new_tally(mode: str, params: Params) -> Tally:
    return Tally(copies=params.subscribers if mode == "fanout" else 1)


def pairs_in(mode: str, params: Params) -> int:
    """Sender/receiver pairs: one for ``roundtrip`` (one message in flight in the whole run),
    ``--pairs`` for ``throughput`` and ``paced``."""
    return 1 if mode == "roundtrip" else params.pairs


def raw_links(url: str, trust: Trust, tally: Tally, mode: str, params: Params) -> list[Link]:
    """Pairs s0/r0, s1/r1, ...; for ``fanout``, a publisher and its subscribers."""
    if mode == "fanout":
        return [RawFanout(url, tally, params.subscribers, trust)]
    return [RawLink(url, tally, f"s{i}", f"r{i}", trust) for i in range(pairs_in(mode, params))]


async def hub_links(
    url: str, trust: Trust, db_url: str, tally: Tally, mode: str, params: Params
) -> list[Link]:
    """The same as :func:`raw_links`, each end an agent registered now."""
    if mode == "fanout":
        names = [f"sub{i}" for i in range(params.subscribers)]
        tokens = await make_agents(db_url, ["pub", *names])
        subscribers = [(name, tokens[name]) for name in names]
        return [HubFanout(url, tally, ("pub", tokens["pub"]), subscribers, trust)]
    pairs = range(pairs_in(mode, params))
    tokens = await make_agents(db_url, [f"{role}{i}" for i in pairs for role in "sr"])
    return [
        HubLink(url, tally, (f"s{i}", tokens[f"s{i}"]), (f"r{i}", tokens[f"r{i}"]), trust)
        for i in pairs
    ]


def checked(result: Result, server: ListeningProcess) -> Result:
    """The result, after showing the server's log if the run went wrong."""
    if result.errors or not result.delivered:
        progress(f"{result.server} {result.mode}: the server's log ends with:\n{server.log_tail()}")
    return result


async def run_all(
    params: Params, modes: list[str], postgres: str | None, tls: bool = False
) -> list[Result]:
    servers = ["raw", "hub"] + (["hub_postgresql"] if postgres else [])
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="cloudbrain-bench-"))
    try:
        # One certificate for the whole run, so every server presents the same one.
        transport = Transport.encrypted(workdir) if tls else Transport()
        over = " over TLS" if tls else ""
        for mode in modes:
            # Time for one run: start, warm-up, window, drain, stop, and slack for slow machines.
            budget = params.warmup + params.duration + DRAIN_SECONDS + 2 * START_SECONDS
            budget += FANOUT_SETUP_SECONDS if mode == "fanout" else 0
            for server in servers:
                progress(
                    f"{server} {mode}{over}: running {params.warmup:g}s warm-up "
                    f"+ {params.duration:g}s…"
                )
                if server == "raw":
                    job = bench_raw(mode, params, workdir, transport)
                else:
                    pg = postgres if server == "hub_postgresql" else None
                    job = bench_hub(server, mode, params, workdir, pg, transport)
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
    """Per hub, its ratios to the raw relay and its standing against the targets, for the
    modes that ran."""
    by = {(r.server, r.mode): r for r in results}
    ratios: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for label in sorted({r.server for r in results} - {"raw"}):
        runs = {
            mode: (by[("raw", mode)], by[(label, mode)])
            for mode in MODES
            if ("raw", mode) in by and (label, mode) in by
        }
        ratios[f"{label}/raw"] = ratios_of(label, runs)
        targets[label] = targets_of(runs, params)
    return ratios, targets


def ratios_of(label: str, runs: dict[str, tuple[Result, Result]]) -> dict[str, Any]:
    """Hub over raw: delivered rates (not for ``paced``, where both deliver the rate asked),
    latencies side by side, and the server CPU each spends per message."""
    found: dict[str, Any] = {}
    for mode, (raw, ours) in runs.items():
        if mode != "paced":
            found[mode] = _ratio(ours.msgs_per_s, raw.msgs_per_s)
        if mode == "roundtrip":
            found["roundtrip_p50_ms"] = {"raw": raw.p50_ms, label: ours.p50_ms}
        found[f"{mode}_p99_ms"] = {"raw": raw.p99_ms, label: ours.p99_ms}
        if mode == "paced":
            found["paced_p99"] = _ratio(ours.p99_ms, raw.p99_ms)
    found["server_cpu_per_message"] = {
        mode: _ratio(ours.server_cpu_s_per_1k, raw.server_cpu_s_per_1k)
        for mode, (raw, ours) in runs.items()
    }
    return found


def targets_of(runs: dict[str, tuple[Result, Result]], params: Params) -> dict[str, Any]:
    """The hub's standing against each target of a mode that ran."""
    found: dict[str, Any] = {}
    if "paced" in runs:
        p99 = runs["paced"][1].p99_ms
        found["paced_p99"] = {
            "rate": params.rate,
            "p99_ms": p99,
            "limit_ms": TARGET_P99_MS,
            "applies": params.rate >= TARGET_RATE,
            "met": p99 is not None and p99 < TARGET_P99_MS,
        }
    if "roundtrip" in runs:
        p50 = runs["roundtrip"][1].p50_ms
        found["roundtrip_p50"] = {
            "p50_ms": p50,
            "limit_ms": TARGET_ROUNDTRIP_P50_MS,
            "met": p50 is not None and p50 <= TARGET_ROUNDTRIP_P50_MS,
        }
    if "fanout" in runs:
        raw, ours = runs["fanout"]
        ratio = _ratio(ours.msgs_per_s, raw.msgs_per_s)
        found["fanout_ratio"] = {
            "subscribers": params.subscribers,
            "ratio": ratio,
            "at_least": TARGET_FANOUT_RATIO,
            "met": ratio is not None and ratio >= TARGET_FANOUT_RATIO,
        }
    return found


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "websockets": package_version("websockets"),
        "sqlite": sqlite3.sqlite_version,
        "openssl": ssl.OPENSSL_VERSION,
        "cloudbrain": __version__,
    }


def report(
    results: list[Result], params: Params, postgres: str | None, tls: bool = False
) -> dict[str, Any]:
    ratios, targets = comparisons(results, params)
    grouped: dict[str, dict[str, Any]] = {}
    for r in results:
        row = asdict(r)
        del row["server"], row["mode"]
        grouped.setdefault(r.server, {})[r.mode] = row
    parameters = {
        **asdict(params),
        "modes": list(dict.fromkeys(r.mode for r in results)),
        "body": '{"t": perf_counter_ns}, and "n" (the message number) in fanout',
        "drain": DRAIN_SECONDS,
        # Both servers and every client, or none: wss:// with a certificate made for the run.
        "tls": tls,
    }
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


UNITS = {"throughput": "msgs/s", "roundtrip": "round trips/s", "fanout": "deliveries/s"}


def print_table(doc: dict[str, Any], results: list[Result], out: TextIO) -> None:
    over = "wss:// (TLS)" if doc["parameters"]["tls"] else "ws:// (no TLS)"
    print(f"\nevery server and client over {over}", file=out)
    head = f"{'server':<15}{'mode':<11}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    head += (
        f"{'sent':>9}{'delivered':>11}{'srv cpu':>9}{'gen cpu':>9}{'cpu s/1k':>10}{'RSS MiB':>9}"
    )
    print(f"{head}\n{'-' * len(head)}", file=out)
    for r in results:
        print(
            f"{r.server:<15}{r.mode:<11}{r.msgs_per_s:>10,.0f}{number(r.p50_ms):>9}"
            f"{number(r.p99_ms):>9}{number(r.max_ms):>9}{r.sent:>9,}{r.delivered:>11,}"
            f"{number(r.server_cpu):>9}{number(r.loadgen_cpu):>9}"
            f"{number(r.server_cpu_s_per_1k, 3):>10}{number(r.server_peak_rss_mib, 1):>9}",
            file=out,
        )
    print(file=out)
    print_ratios(doc["ratios"], out)
    print_targets(doc["target"], out)


def print_ratios(ratios: dict[str, Any], out: TextIO) -> None:
    """A line per hub and mode: its rate over raw's, the latencies of both, the CPU ratio."""
    for name, ratio in ratios.items():
        label = name.split("/")[0]
        for mode, cpu in ratio["server_cpu_per_message"].items():
            parts = [] if mode not in ratio else [f"x{number(ratio[mode], 3)} {UNITS[mode]}"]
            for kind in ("p50", "p99"):
                ms = ratio.get(f"{mode}_{kind}_ms")
                if ms is not None:
                    parts.append(f"{kind} {number(ms['raw'])} vs {number(ms[label])} ms")
            parts.append(f"server CPU per message x{number(cpu, 1)}")
            print(f"{name} {mode}: " + "; ".join(parts), file=out)


def print_targets(targets: dict[str, Any], out: TextIO) -> None:
    def verdict(target: dict[str, Any]) -> str:
        return "met" if target["met"] else "MISSED"

    for label, found in targets.items():
        if paced := found.get("paced_p99"):
            also = "" if paced["applies"] else f" (but the target is for {TARGET_RATE:,.0f} msgs/s)"
            print(
                f"{label} paced p99 at {paced['rate']:,.0f} msgs/s: {number(paced['p99_ms'])} ms "
                f"(target < {TARGET_P99_MS:g} ms: {verdict(paced)}{also})",
                file=out,
            )
        if roundtrip := found.get("roundtrip_p50"):
            print(
                f"{label} round trip p50: {number(roundtrip['p50_ms'])} ms "
                f"(target <= {TARGET_ROUNDTRIP_P50_MS:g} ms: {verdict(roundtrip)})",
                file=out,
            )
        if fanout := found.get("fanout_ratio"):
            print(
                f"{label} fan-out to {fanout['subscribers']} subscribers: "
                f"x{number(fanout['ratio'], 3)} of raw's deliveries/s "
                f"(target >= {TARGET_FANOUT_RATIO:g}: {verdict(fanout)})",
                file=out,
            )


# --- the command line ------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay",
        description="Benchmark the CloudBrain hub against a bare websockets relay (the "
        "baseline), each as its own process, under the same load: a throughput run (a window "
        "of messages in flight per sender), a paced run (a fixed total rate), a round-trip "
        "run (one message at a time) and a fan-out run (one publisher, many subscribers). "
        "Progress and a table go to stderr, a JSON document to stdout.",
        epilog="Read ratios['hub/raw'].throughput (and .fanout) as the share of the bare "
        "relay's rate the hub keeps while storing every message (fan-out target: at least "
        f"{TARGET_FANOUT_RATIO:g}); read the paced p99 for latency under load (target: under "
        f"{TARGET_P99_MS:g} ms at {TARGET_RATE:,.0f} msgs/s) and the round-trip p50 for the "
        f"least a message takes (target: at most {TARGET_ROUNDTRIP_P50_MS:g} ms). Exits 1 when "
        "a run delivered nothing (the JSON is printed all the same).",
    )
    parser.add_argument(
        "--modes",
        type=mode_list,
        default=list(MODES),
        metavar="MODE,...",
        help=f"load modes to run, in this order (default: {','.join(MODES)})",
    )
    parser.add_argument(
        "--pairs",
        type=positive(int),
        default=10,
        help="throughput and paced modes: sender/receiver pairs, each two connections "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=positive(int),
        default=50,
        help="throughput mode: messages each sender keeps in flight, for the hub sent and "
        "not yet receipted; fanout mode: messages the publisher keeps in flight, until every "
        "subscriber has them (default: %(default)s)",
    )
    parser.add_argument(
        "--subscribers",
        type=positive(int),
        default=50,
        help="fanout mode: subscribers of the topic, each its own connection "
        "(default: %(default)s)",
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
        "--tls",
        action="store_true",
        help="both servers listen for wss:// with a certificate made for the run, and every "
        "client trusts its CA (default: ws://, no TLS); run once with and once without to "
        "price TLS",
    )
    parser.add_argument(
        "--json-only",
        action="store_true",
        help="print only the JSON document (on stdout): no progress lines or table on stderr",
    )
    return parser.parse_args(argv)


def mode_list(text: str) -> list[str]:
    """``--modes``: known modes, comma-separated, each once."""
    modes = [mode.strip() for mode in text.split(",") if mode.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes or len(set(modes)) < len(modes):
        raise argparse.ArgumentTypeError(
            f"expected some of {','.join(MODES)}, each once, not {text!r}"
        )
    return modes


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_quiet(args.json_only)
    params = Params(
        pairs=args.pairs,
        window=args.window,
        duration=args.duration,
        rate=args.rate,
        subscribers=args.subscribers,
    )
    results = asyncio.run(run_all(params, args.modes, args.db, args.tls))
    doc = report(results, params, args.db, args.tls)
    if not args.json_only:
        print_table(doc, results, sys.stderr)
    print(json.dumps(doc, indent=2))
    if any(not r.delivered for r in results):
        progress("some runs delivered nothing: the numbers above measure a failure")
        sys.exit(1)


if __name__ == "__main__":
    main()
