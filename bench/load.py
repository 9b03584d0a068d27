"""The load modes and one measured run, summed up as a ``Result``: a window of messages in
flight per sender (``throughput``, and ``fanout`` over one publisher and its subscribers), a
fixed total rate (``paced``), or one message at a time (``roundtrip``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from bench.counting import CpuMeter, Tally, peak_rss_mib, percentile_ms
from bench.links import Link
from bench.progress import progress

WARMUP_SECONDS = 1.0
DRAIN_SECONDS = 5.0  # after the window: time for messages in flight to arrive


@dataclass(frozen=True)
class Params:
    pairs: int
    window: int
    duration: float
    rate: float
    warmup: float = WARMUP_SECONDS
    subscribers: int = 50  # fanout: receivers of each topic message


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
    # The server's CPU seconds per 1,000 messages delivered in the window: its cost per
    # message, comparable across modes and loads where ``server_cpu`` is not.
    server_cpu_s_per_1k: float | None = None
    server_peak_rss_mib: float | None = None  # VmHWM at the end of the run (the process's life)


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


async def one_at_a_time(link: Link, stop: asyncio.Event) -> None:
    """Send a message, wait until its receiver has it, send the next, until ``stop``: each
    latency is then the server's alone, with no queue ahead of the message."""
    arrived = asyncio.Event()
    link.on_arrival = arrived.set
    while not stop.is_set():
        arrived.clear()
        link.tally.on_sent()
        await link.fire()
        # A message still missing after the drain time is lost (the result's ``undelivered``
        # says so): go on with the next rather than stall the whole run.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), DRAIN_SECONDS)


def driver(
    mode: str, link: Link, index: int, links: int, params: Params, stop: asyncio.Event
) -> Coroutine[Any, Any, None]:
    """The coroutine that loads ``link``, the ``index``-th of ``links``, in ``mode``."""
    if mode in ("throughput", "fanout"):
        return keep_window(link, params.window, stop)
    if mode == "paced":
        return pace(link, params.rate / links, index / params.rate, stop)
    if mode == "roundtrip":
        return one_at_a_time(link, stop)
    raise ValueError(f"unknown load mode {mode!r}")


async def drive(links: list[Link], mode: str, params: Params, cpu: CpuMeter) -> None:
    """Run the load: warm-up, then the measured window, then the drain."""
    tally = links[0].tally
    stop = asyncio.Event()
    drivers = [
        asyncio.create_task(driver(mode, link, i, len(links), params, stop))
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
        peak_mib = peak_rss_mib(server_pid)  # while the server still runs
    finally:
        await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
    errors = [link.first_error for link in links if link.first_error]
    if errors:
        progress(f"{server} {mode}: {sum(link.errors for link in links)} errors, e.g. {errors[0]}")
    result = result_of(tally, links, server, mode, params, server_cpu, loadgen_cpu)
    result.server_cpu_s_per_1k = per_thousand(cpu.server_seconds(), tally.delivered)
    result.server_peak_rss_mib = peak_mib
    return result


def per_thousand(seconds: float | None, delivered: int) -> float | None:
    """CPU seconds per 1,000 deliveries; None when either is unknown or nothing arrived."""
    if seconds is None or not delivered:
        return None
    return round(seconds / delivered * 1000, 4)


def result_of(
    tally: Tally,
    links: Sequence[Link],
    server: str,
    mode: str,
    params: Params,
    server_cpu: float | None,
    loadgen_cpu: float | None,
) -> Result:
    """One run's figures, from what the links counted."""
    latencies = sorted(tally.latencies_ns)
    return Result(
        server=server,
        mode=mode,
        msgs_per_s=round(tally.delivered / tally.seconds, 1),
        p50_ms=percentile_ms(latencies, 0.50),
        p99_ms=percentile_ms(latencies, 0.99),
        max_ms=percentile_ms(latencies, 1.0),
        delivered=tally.delivered,
        sent=tally.sent,
        undelivered=tally.expected_total - tally.delivered_total,
        errors=sum(link.errors for link in links),
        target_msgs_per_s=params.rate if mode == "paced" else None,
        server_cpu=server_cpu,
        loadgen_cpu=loadgen_cpu,
    )
