"""The load modes and one measured run: a window of messages in flight per sender
(``throughput``) or a fixed total rate (``paced``), then the run summed up as a ``Result``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from bench.counting import CpuMeter, Tally, percentile_ms
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
    errors = [link.first_error for link in links if link.first_error]
    if errors:
        progress(f"{server} {mode}: {sum(link.errors for link in links)} errors, e.g. {errors[0]}")
    return result_of(tally, links, server, mode, params, server_cpu, loadgen_cpu)


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
        undelivered=tally.sent_total - tally.delivered_total,
        errors=sum(link.errors for link in links),
        target_msgs_per_s=params.rate if mode == "paced" else None,
        server_cpu=server_cpu,
        loadgen_cpu=loadgen_cpu,
    )
