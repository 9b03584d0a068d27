"""The processes of ``bench.cluster``: server nodes on one database, the Redis of the run's own
(the machine's shared Redis is left alone), and the CPU they and the machine used."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from bench.counting import CpuMeter, process_cpu_seconds
from bench.servers import hub
from tests.processes import RedisProcess, ServerProcess


def node(home: Path, db_url: str, name: str, redis_url: str | None) -> ServerProcess:
    """``cloudbrain server --node NAME`` (not started yet): rate limits out of the way, only
    warnings logged, no SMTP gateway or web view; cluster mode when given a Redis."""
    env = {"CLOUDBRAIN_SMTP": "0", "CLOUDBRAIN_HTTP": "0"}
    if redis_url:
        env["CLOUDBRAIN_REDIS_URL"] = redis_url
    return hub(home / name, db_url, node=name, log=home / f"{name}.log", extra_env=env)


@contextlib.contextmanager
def cluster(home: Path, db_url: str, count: int, redis: bool) -> Iterator[list[ServerProcess]]:
    """``count`` running nodes ``n1``, ``n2``, ... (and their Redis), stopped on the way out.
    Started one after the other, each listening before the next starts; the event loop waits
    meanwhile, on purpose (see bench.relay). The database must be migrated already: nodes
    starting together on an empty one would race to migrate it."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(RedisProcess(home / "redis")).redis_url if redis else None
        yield [stack.enter_context(node(home, db_url, f"n{i + 1}", url)) for i in range(count)]


def log_lines(servers: list[ServerProcess]) -> list[str]:
    """What the nodes logged (WARNING and up, and their start line), named by node."""
    return [f"{s.argv[-1]}: {line}" for s in servers for line in s.output().splitlines()]


class ClusterCpu(CpuMeter):
    """``CpuMeter`` over every node (their CPU time summed), and how busy the whole machine
    was: PostgreSQL, Redis and the load generator share its cores with the nodes."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(pids[0])
        self.pids = pids
        self._machine: list[tuple[int, int]] = []

    def _now(self) -> tuple[float, float, float | None]:
        self._machine.append(_machine_jiffies())
        seconds = [process_cpu_seconds(pid) for pid in self.pids]
        known = [s for s in seconds if s is not None]
        total = sum(known) if len(known) == len(seconds) else None
        return time.perf_counter(), time.process_time(), total

    def machine(self) -> float | None:
        """Cores busy over the window, all processes together (None without /proc)."""
        if len(self._machine) < 2 or not self._machine[-1][1]:
            return None
        (busy0, all0), (busy1, all1) = self._machine[0], self._machine[-1]
        return round((busy1 - busy0) / max(1, all1 - all0) * (os.cpu_count() or 1), 2)


def _machine_jiffies() -> tuple[int, int]:
    """(busy, all) CPU time of the machine since boot, from /proc/stat ((0, 0) without)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    total = sum(fields[:8])  # guest time is counted in user time already
    return total - fields[3] - fields[4], total  # idle and iowait are not busy
