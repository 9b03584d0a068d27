"""What the load generator counts: sends, deliveries and their latencies (``Tally``), the
percentile maths, the CPU time each side used (``CpuMeter``) and the server's peak memory."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

NS_PER_MS = 1_000_000


class Tally:
    """Sends and deliveries, and the latencies of deliveries inside the measured window.

    ``copies``: deliveries each send makes (a topic message reaches every subscriber), so that
    the tally knows when everything sent has arrived."""

    def __init__(self, copies: int = 1) -> None:
        self.copies = copies
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
        if self.stopped and self.delivered_total >= self.expected_total:
            self.settled.set()

    @property
    def expected_total(self) -> int:
        """Deliveries that the sends of the whole run should make."""
        return self.sent_total * self.copies

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

    def server_seconds(self) -> float | None:
        """CPU seconds the server used over the window; None where unknown."""
        if self._start is None or self._end is None:
            return None
        server0, server1 = self._start[2], self._end[2]
        return None if server0 is None or server1 is None else server1 - server0

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


def peak_rss_mib(pid: int) -> float | None:
    """The most resident memory a process has had (VmHWM), in MiB; None where there is no
    /proc. The high-water mark, not a sample: a peak between two samples is not missed."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # the kernel gives kB
    return None
