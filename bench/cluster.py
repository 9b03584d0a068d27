"""What running CloudBrain as several nodes costs: messages that cross nodes, next to one node,
and how many idle agents one node holds.

    python -m bench.cluster            # about 5 minutes with the defaults, on 2 cores
    python -m bench.cluster --only delivery --duration 5 --json-only > result.json

Options: ``--pairs`` (12), ``--window`` (20), ``--rates`` (100,300), ``--duration`` (10 s),
``--idle`` (10000), ``--idle-procs`` (2), ``--at-once`` (50), ``--hold`` (25 s), ``--only
delivery|idle``, ``--postgres URL``, ``--max-seconds``, ``--json-only``.

Every node is a ``cloudbrain server`` process of its own (``--node n1``, ``n2``, ...), rate
limits out of the way as in ``bench.relay``, ``CLOUDBRAIN_LOG_LEVEL=WARNING``, no SMTP gateway
and no web view (``bench.cluster_nodes``). The nodes of a run share one fresh PostgreSQL
database (made on ``--postgres``, migrated before the nodes start, dropped after) and one
Redis of the run's own (``redis-server`` on a free port; the machine's shared one is untouched).

**Delivery** (``results.delivery``): the same load on each configuration, every run on fresh
nodes and a fresh database: ``no_redis`` (one node, not in cluster mode), ``nodes_1`` (one node
in cluster mode: the same PostgreSQL and a Redis, so that nodes_1 against nodes_N isolates
crossing nodes), ``nodes_2`` and ``nodes_3``. ``--pairs`` sender/receiver pairs, each two
``Client`` objects of this process; pair i sends from node ``i % N`` to a receiver on node
``(i + 1) % N``, so with N > 1 *every* message crosses nodes: the sender's node stores it and
rings the Redis doorbell, the receiver's node reads it back from the database (its feed) and
hands it over. The runs are ``bench.relay``'s modes (a warm-up, ``--duration`` measured
seconds, a drain): ``throughput`` keeps ``--window`` messages in flight per sender (send to
receipt); ``paced_R`` sends R msgs/s in all on a fixed schedule, for each R of ``--rates``.
Latency is from the send call to the receiver having the message (one process, one clock).
``server_cpu`` is all nodes' CPU, ``loadgen_cpu`` this process's, ``machine_cpu`` every
process's (PostgreSQL and Redis too), in cores busy over the window: 2.0 on a 2-core machine
means the numbers measure the machine more than the cluster.

Checks per run: every message that got a receipt arrived, no message id arrived twice (counted
on the ``deliver`` frames, before the client drops repeats itself), no send failed.
``ratios["nodes_N/nodes_1"]`` (and ``/no_redis``): paced p99 and throughput msgs/s, N over one.

**Idle agents** (``results.idle``, ``bench.cluster_idle``): one node in cluster mode, ``--idle``
agents inserted in bulk, then as many raw WebSocket connections (``websockets``, no compression,
no client pings) over ``--idle-procs`` load-generator processes, ``--at-once`` handshakes in
flight each, that each say ``hello``, wait for ``welcome`` and stay idle. Reported: the time from
"go" to the last welcome, the node's RSS (VmRSS) before and after all connected and its CPU
settled, bytes per connection, peak RSS (VmHWM), the node's CPU while they sit idle ``--hold``
seconds (it pings each every 20 s and renews them all in Redis every 3 s), then, from one more
connection, its welcome time, 20 ``ping`` round trips and one ``who`` filtered to one agent;
last, the node is stopped (SIGTERM) with all still connected: how long it took, its exit code
(-9: SIGKILLed after 15 s) and the close codes the connections saw (1001: going away).
Checks: all welcomed, as many open sessions in the database, all still open after the hold,
the probe answered.

Reading the result: ``target.cross_node`` is, per paced rate, the worst p99 of nodes_2 and
nodes_3 over nodes_1's, against 2x; ``target.idle`` is 10,000 idle agents on one node within
1 GiB of RSS. Neither is asserted: ``met`` says (null: not measured). Progress lines and tables
go to stderr, the JSON document to stdout. Exits 1 when a check failed (``all_checks_passed``)
or ``--max-seconds`` cut the run short (``"complete": false``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bench.cluster_idle import IdleParams, bench_idle
from bench.cluster_nodes import ClusterCpu, cluster, log_lines
from bench.counting import Tally
from bench.links import CLIENT_TIMEOUT, HubLink, Link
from bench.load import DRAIN_SECONDS, Params, Result, drive, result_of
from bench.progress import (
    add_postgres_options,
    add_run_options,
    number,
    positive,
    progress,
    set_quiet,
)
from bench.recall import run_and_report, versions
from bench.servers import fresh_postgres, make_agents
from cloudbrain.agent.client import Client
from cloudbrain.db import upgrade
from cloudbrain.protocol import Deliver
from tests.processes import START_SECONDS, STOP_SECONDS

# (label, nodes, cluster mode): the configurations of the delivery runs, in order.
CONFIGS = [("no_redis", 1, False), ("nodes_1", 1, True), ("nodes_2", 2, True), ("nodes_3", 3, True)]
WARMUP_SECONDS = 2.0  # a little more than bench.relay's: nodes learn of each other's sessions
TARGET_P99_RATIO = 2.0
TARGET_IDLE = 10_000
TARGET_IDLE_BYTES = 1 << 30


# --- delivery across nodes -------------------------------------------------------------------


class CrossLink(HubLink):
    """A ``HubLink`` whose receiver may be on another node, keeping the ids of the messages
    stored (receipted) and of the ``deliver`` frames that arrived: the client drops repeated
    ids itself, so they are counted before it sees them."""

    def __init__(
        self, tx: str, rx: str, tally: Tally, sender: tuple[str, str], receiver: tuple[str, str]
    ) -> None:
        super().__init__(tx, tally, sender, receiver)
        self._rx = Client(rx, *receiver, device="bench", timeout=CLIENT_TIMEOUT)
        self.stored: list[str] = []
        self.arrived: Counter[str] = Counter()
        handle = self._rx._on_deliver

        def count(frame: Deliver) -> None:
            self.arrived[frame.id] += 1
            handle(frame)

        self._rx._on_deliver = count  # type: ignore[method-assign]

    async def _send(self, stamp: int) -> None:
        self.stored.append((await self._tx.send(self.receiver, {"t": stamp})).re)

    async def receipts(self, seconds: float) -> None:
        """Wait for the receipts still to come: across nodes one may come after the delivery."""
        if self._sends:
            await asyncio.wait(list(self._sends), timeout=seconds)


async def measure(
    mode: str, links: list[CrossLink], params: Params, pids: list[int]
) -> tuple[Result, dict[str, Any], float | None]:
    """``bench.load.measure`` with the CPU of several nodes (it takes one server's pid);
    returns the result, the exactly-once checks and how many cores the machine kept busy."""
    tally = links[0].tally
    cpu = ClusterCpu(pids)
    try:
        for link in links:
            await link.open()
        await drive(list[Link](links), mode, params, cpu)
        await asyncio.gather(*(link.receipts(DRAIN_SECONDS) for link in links))
        server_cpu, loadgen_cpu = cpu.read()
    finally:
        await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
    result = result_of(tally, links, "", mode, params, server_cpu, loadgen_cpu)
    return result, exactly_once(links), cpu.machine()


def exactly_once(links: list[CrossLink]) -> dict[str, Any]:
    stored = {i for link in links for i in link.stored}
    arrived: Counter[str] = Counter()
    for link in links:
        arrived.update(link.arrived)
    errors = [link.first_error for link in links if link.first_error]
    found: dict[str, Any] = {
        "stored": len(stored),
        "arrived": len(arrived),
        "lost": len(stored - arrived.keys()),
        "duplicate_frames": sum(n - 1 for n in arrived.values()),
        "send_errors": sum(link.errors for link in links),
        "first_error": errors[0] if errors else None,
    }
    found["ok"] = bool(stored) and not (found["lost"] or found["duplicate_frames"] or errors)
    return found


async def bench_delivery(
    label: str, count: int, redis: bool, run: str, params: Params, postgres: str, workdir: Path
) -> dict[str, Any]:
    """One run on fresh nodes and a fresh database: pair i from node i % N to node i+1."""
    home = Path(tempfile.mkdtemp(prefix=f"{label}-{run}-", dir=workdir))
    async with fresh_postgres(postgres) as db_url:
        await asyncio.to_thread(upgrade, db_url)
        tokens = await make_agents(db_url, [f"{r}{i}" for i in range(params.pairs) for r in "sr"])
        with cluster(home, db_url, count, redis) as servers:
            tally = Tally()
            links = [
                CrossLink(
                    servers[i % count].url,
                    servers[(i + 1) % count].url,
                    tally,
                    (f"s{i}", tokens[f"s{i}"]),
                    (f"r{i}", tokens[f"r{i}"]),
                )
                for i in range(params.pairs)
            ]
            mode = run.split("_")[0]
            result, checks, machine = await measure(mode, links, params, [s.pid for s in servers])
    logged = log_lines(servers)  # stopped: with what they logged on the way out
    if not checks["ok"]:
        progress(f"{label} {run}: checks failed: {checks}\n" + "\n".join(logged[-40:]))
    row = asdict(result)
    del row["server"], row["mode"]
    row.update(machine_cpu=machine, nodes=count, checks=checks, log=logged[:20])
    return {**row, "exit_codes": [s.process.returncode for s in servers if s.process]}


# --- the runs and the report -----------------------------------------------------------------


def delivery_runs(args: argparse.Namespace) -> list[tuple[str, Params]]:
    """(name, parameters) of the delivery runs: the window, then each paced rate."""
    params = Params(args.pairs, args.window, args.duration, args.rates[0], WARMUP_SECONDS)
    return [("throughput", params)] + [
        (f"paced_{r:g}", replace(params, rate=r)) for r in args.rates
    ]


async def run_all(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    budget = WARMUP_SECONDS + args.duration + 2 * DRAIN_SECONDS + 4 * START_SECONDS
    workdir = Path(tempfile.mkdtemp(prefix="cloudbrain-cluster-"))
    results = doc["results"]
    try:
        if args.only in (None, "delivery"):
            started = time.perf_counter()
            for run, params in delivery_runs(args):
                for label, count, redis in CONFIGS:
                    progress(f"{label} {run}: {WARMUP_SECONDS:g}s warm-up + {args.duration:g}s…")
                    job = bench_delivery(label, count, redis, run, params, args.postgres, workdir)
                    row = await asyncio.wait_for(job, budget)
                    results.setdefault("delivery", {}).setdefault(label, {})[run] = row
                    progress(
                        f"{label} {run}: {row['msgs_per_s']:,.0f} msgs/s, p50 {row['p50_ms']} ms,"
                        f" p99 {row['p99_ms']} ms, checks {'ok' if row['checks']['ok'] else 'FAILED'}"
                    )
            doc["phases_s"]["delivery"] = round(time.perf_counter() - started, 1)
        if args.only in (None, "idle"):
            started = time.perf_counter()
            idle = IdleParams(args.idle, args.idle_procs, args.at_once, args.hold, args.max_seconds)
            results["idle"] = await bench_idle(idle, args.postgres, workdir)
            doc["phases_s"]["idle"] = round(time.perf_counter() - started, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        runs = [r for c in results.get("delivery", {}).values() for r in c.values()]
        runs += [results["idle"]] if "checks" in results.get("idle", {}) else []
        doc["all_checks_passed"] = bool(runs) and all(r["checks"]["ok"] for r in runs)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def targets(doc: dict[str, Any]) -> dict[str, Any]:
    """The two targets (``met`` None when not measured); puts the delivery ratios in ``doc``
    on the way, so that a run cut short has those it measured."""
    runs = doc["results"].get("delivery", {})
    ratios: dict[str, dict[str, float | None]] = {}
    for label in ("nodes_2", "nodes_3"):
        for base in ("nodes_1", "no_redis"):
            for run, r in runs.get(label, {}).items():
                if (b := runs.get(base, {}).get(run)) is not None:
                    found = ratios.setdefault(f"{label}/{base}", {})
                    if run == "throughput":
                        found["throughput_msgs_per_s"] = _ratio(r["msgs_per_s"], b["msgs_per_s"])
                    else:
                        found[f"{run}_p99"] = _ratio(r["p99_ms"], b["p99_ms"])
    doc["ratios"] = ratios
    by_rate: dict[str, Any] = {}
    for name, found in ratios.items():
        if name.endswith("/nodes_1"):
            for key, value in found.items():
                if key.startswith("paced") and value is not None:
                    run = key.removesuffix("_p99")
                    by_rate[run] = max(by_rate.get(run, 0.0), value)
    idle = doc["results"].get("idle", {})
    held, rss = idle.get("welcomed"), idle.get("rss_after")
    return {
        "cross_node": {
            "what": "paced p99 with every message crossing nodes (worst of 2 and 3 nodes) over "
            "one node's in cluster mode, at each rate",
            "worst_ratio": by_rate,
            "limit": TARGET_P99_RATIO,
            "met": all(v < TARGET_P99_RATIO for v in by_rate.values()) if by_rate else None,
        },
        "idle": {
            "what": f"{TARGET_IDLE:,} idle agents connected to one node, within 1 GiB of RSS",
            "agents": held,
            "rss_bytes": rss,
            "met": None if rss is None else held >= TARGET_IDLE and rss <= TARGET_IDLE_BYTES,
        },
    }


def print_tables(doc: dict[str, Any], out: TextIO) -> None:
    p = doc["parameters"]
    runs = doc["results"].get("delivery", {})
    if runs:
        print(
            f"\ndelivery: {p['pairs']} pairs; throughput: {p['window']} in flight per sender; "
            f"paced: msgs/s in all; {p['duration']:g}s measured; with N > 1 nodes every message "
            "crosses nodes",
            file=out,
        )
        head = f"{'config':<10}{'run':<12}{'msgs/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        head += f"{'sent':>8}{'lost':>5}{'dup':>5}{'nodes cpu':>10}{'gen cpu':>8}{'machine':>8}"
        print(f"{head}\n{'-' * len(head)}", file=out)
        for run in dict.fromkeys(run for by_run in runs.values() for run in by_run):
            for label, by_run in runs.items():
                if (r := by_run.get(run)) is not None:
                    c = r["checks"]
                    print(
                        f"{label:<10}{run:<12}{r['msgs_per_s']:>8,.0f}{number(r['p50_ms']):>9}"
                        f"{number(r['p99_ms']):>9}{number(r['max_ms']):>9}{r['sent']:>8,}"
                        f"{c['lost']:>5}{c['duplicate_frames']:>5}{number(r['server_cpu']):>10}"
                        f"{number(r['loadgen_cpu']):>8}{number(r['machine_cpu']):>8}",
                        file=out,
                    )
        print("(cpu: cores busy over the window; machine: every process)", file=out)
        for name, found in doc["ratios"].items():
            shown = ", ".join(f"{k} x{number(v, 3)}" for k, v in found.items())
            print(f"{name}: {shown}", file=out)
    idle = doc["results"].get("idle", {})
    if "welcomed" in idle:
        print(
            f"\nidle: {idle['welcomed']:,} of {idle['wanted']:,} agents welcomed in "
            f"{idle['connect_seconds']}s ({idle['per_s']:,}/s, {idle['errors']} errors, node CPU "
            f"{idle['server_cpu_connecting']}), {idle.get('still_open', 'n/a')} still open after "
            f"{p['hold']:g}s more",
            file=out,
        )
        print(f"welcomes/s over each tenth of them: {idle['per_s_by_tenth']}", file=out)
    if "stop_seconds" in idle:
        print(
            f"node stopped with all connected in {idle['stop_seconds']}s, exit code "
            f"{idle['exit_code']} (-9: killed after {STOP_SECONDS:g}s), connections closed with "
            f"{idle['close_codes']}",
            file=out,
        )
    if "rss_after" in idle:
        mib = 1 << 20
        print(
            f"node RSS {idle['rss_before'] / mib:,.0f} MiB before, {idle['rss_after'] / mib:,.0f} "
            f"MiB after (peak {idle['rss_peak'] / mib:,.0f} MiB): "
            f"{idle['bytes_per_connection'] / 1024:,.1f} KiB per connection; node CPU while idle "
            f"{number(idle.get('server_cpu_idle'))}",
            file=out,
        )
    if "probe" in idle:
        pr, ping = idle["probe"], idle["probe"]["ping"] or {}
        print(
            f"with all connected: a new agent welcomed in {pr['welcome_ms']} ms; ping p50 "
            f"{ping.get('p50_ms')} ms, max {ping.get('max_ms')} ms; who {pr['who_ms']} ms",
            file=out,
        )
    print(file=out)
    for name, t in doc["target"].items():
        verdict = {None: "not measured", True: "met", False: "MISSED"}[t["met"]]
        print(f"target {name}: {verdict} ({t['what']})", file=out)
        if t.get("worst_ratio"):
            shown = ", ".join(f"{k} x{v:.2f}" for k, v in t["worst_ratio"].items())
            print(f"  worst p99 ratio: {shown}", file=out)


# --- the command line ------------------------------------------------------------------------


def rates(text: str) -> list[float]:
    try:
        found = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected rates like 100,300, not {text}") from None
    if not found or min(found) <= 0:
        raise argparse.ArgumentTypeError(f"rates must be positive, not {text}")
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster",
        description="Benchmark CloudBrain as several nodes on one PostgreSQL and one Redis: "
        "delivered msgs/s and latency with 1, 2 and 3 nodes (receivers on another node than "
        "their senders), and how many idle agents one node holds. Progress and tables go to "
        "stderr, a JSON document to stdout.",
        epilog=f"Targets: cross-node paced p99 under {TARGET_P99_RATIO:g}x one node's; "
        f"{TARGET_IDLE:,} idle agents on one node within 1 GiB. Exits 1 when a check failed.",
    )
    add = parser.add_argument
    add("--pairs", type=positive(int), default=12, help="sender/receiver pairs (default: 12)")
    add("--window", type=positive(int), default=20, help="throughput: in flight per sender (20)")
    add("--rates", type=rates, default=[100.0, 300.0], help="paced msgs/s in all (100,300)")
    add("--duration", type=positive(float), default=10.0, help="measured s per run (default 10)")
    add("--idle", type=positive(int), default=TARGET_IDLE, help="idle agents (default: 10000)")
    add("--idle-procs", type=positive(int), default=2, help="load-generator processes (2)")
    add("--at-once", type=positive(int), default=50, help="handshakes in flight per process (50)")
    add("--hold", type=positive(float), default=25.0, help="idle seconds, all open (default: 25)")
    add("--only", choices=("delivery", "idle"), help="run one of the two parts")
    add_postgres_options(parser, optional=False)
    add_run_options(parser)
    return parser.parse_args(argv)


def redis_version() -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    shown = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return shown.stdout.split()[2].removeprefix("v=") if shown.stdout else None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_quiet(args.json_only)
    machine = versions()
    machine["redis"] = redis_version()
    names = ("pairs", "window", "rates", "duration", "idle", "idle_procs", "at_once", "hold")
    doc: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "parameters": {
            **{name: getattr(args, name) for name in names},
            "warmup": WARMUP_SECONDS,
            "drain": DRAIN_SECONDS,
            "only": args.only,
            "configs": {label: {"nodes": n, "redis": r} for label, n, r in CONFIGS},
        },
        "results": {},
        "phases_s": {},
    }
    run_and_report(
        doc,
        lambda: run_all(args, doc),
        postgres=args.postgres,
        max_seconds=args.max_seconds,
        json_only=args.json_only,
        targets=targets,
        tables=print_tables,
    )


if __name__ == "__main__":
    main()
