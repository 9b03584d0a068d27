"""Background jobs stop between runs: a run in progress finishes (a cancelled database
transaction could hold SQLite's write lock for good), and only one that outlives the grace
period is cancelled."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cloudbrain.server.housekeeping import Housekeeping


async def test_a_run_in_progress_finishes_before_stop_returns() -> None:
    jobs = Housekeeping()
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def job() -> None:
        runs.append("started")
        started.set()
        await release.wait()
        runs.append("finished")

    jobs.every(3600, job, "slow job", now=True)
    await started.wait()
    stopping = asyncio.create_task(jobs.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop returned while the job was in the middle of a run"
    release.set()
    await stopping
    assert runs == ["started", "finished"]


async def test_stop_comes_between_runs_without_waiting_out_the_interval() -> None:
    jobs = Housekeeping(grace=3600)
    runs = 0
    ran = asyncio.Event()

    async def job() -> None:
        nonlocal runs
        runs += 1
        ran.set()

    jobs.every(3600, job, "hourly", now=True)
    await ran.wait()
    await asyncio.wait_for(jobs.stop(), 60)
    assert runs == 1


async def test_a_failing_run_is_logged_and_the_next_one_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = Housekeeping()
    runs = 0
    ran_again = asyncio.Event()

    async def job() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("the database went away")
        ran_again.set()

    jobs.every(0.01, job, "sweep")
    await ran_again.wait()
    await jobs.stop()
    assert "sweep failed; will try again" in caplog.text
    assert "the database went away" in caplog.text


async def test_a_job_that_outlives_the_grace_period_is_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = Housekeeping(grace=0.05)
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    jobs.once(stuck(), "stuck job")
    with caplog.at_level(logging.WARNING):
        await jobs.stop()
    assert cancelled.is_set()
    assert "stuck job was still running" in caplog.text


async def test_a_one_off_job_sees_the_stop_and_ends_itself() -> None:
    jobs = Housekeeping(grace=3600)
    steps = 0
    under_way = asyncio.Event()

    async def long_job() -> None:
        nonlocal steps
        while not jobs.stopping.is_set():
            steps += 1
            if steps == 3:
                under_way.set()
            await asyncio.sleep(0)

    jobs.once(long_job(), "re-embedding")
    await under_way.wait()
    await asyncio.wait_for(jobs.stop(), 60)
    assert steps >= 3
