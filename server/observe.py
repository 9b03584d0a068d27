"""``/metrics``, ``/healthz`` and ``/readyz`` on the web view's HTTP listener.

They belong to the server, not to Familio (which may not import the server), so the wiring
adds them to Familio's app before it starts. ``/healthz`` says the process answers and
``/readyz`` that what it depends on does (the database; Redis, in a cluster): neither says
anything about the family, so both answer anyone, whatever the read policy. ``/metrics``
reveals traffic and error counts: it follows the read policy of every other read.

A check that waits on the database is never cancelled halfway (that can leave a connection
checked out, see :mod:`cloudbrain.server.housekeeping`): the request stops waiting after a
timeout and answers, while the query runs to its end in the background; only one runs at a
time, and a request meanwhile waits for that one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.errors import ProtocolError
from cloudbrain.familio.app import STATUS, can_read, error_body
from cloudbrain.server.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

CHECK_SECONDS = 3.0  # how long /readyz and /metrics wait for the database or Redis
Ping = Callable[[], Awaitable[Any]]


class Shared:
    """Runs ``query`` for whoever asks, one run at a time: callers that come while it runs
    wait for that run. A caller that gives up leaves the run going (it is shielded)."""

    def __init__(self, query: Callable[[], Awaitable[Any]]) -> None:
        self._query = query
        self._running: asyncio.Task[Any] | None = None

    async def __call__(self, timeout: float) -> Any:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._query())
            # Its error is read here when every caller gave up waiting, not left unread.
            self._running.add_done_callback(lambda run: run.cancelled() or run.exception())
        async with asyncio.timeout(timeout):
            return await asyncio.shield(self._running)


class Readiness:
    """Whether this server can serve: the database answers ``SELECT 1``, and Redis (in a
    cluster) answers PING."""

    def __init__(self, engine: AsyncEngine, redis_ping: Ping | None = None) -> None:
        self._database = Shared(lambda: _select_one(engine))
        self._redis_ping = redis_ping

    async def problems(self, timeout: float = CHECK_SECONDS) -> dict[str, str]:
        """What does not answer, and how it failed; empty when all is well."""
        checks = {"database": self._database(timeout)}
        if self._redis_ping is not None:
            checks["redis"] = self._ping_redis(timeout)
        outcomes = await asyncio.gather(*checks.values(), return_exceptions=True)
        return {
            name: _why(outcome)
            for name, outcome in zip(checks, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        }

    async def _ping_redis(self, timeout: float) -> None:
        # Cancelling a Redis command is safe: the client drops that connection.
        assert self._redis_ping is not None
        async with asyncio.timeout(timeout):
            await self._redis_ping()


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _why(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {CHECK_SECONDS:g}s"
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]


def add_routes(
    app: FastAPI,
    metrics: Metrics,
    readiness: Readiness,
    count_pending: Callable[[], Awaitable[int]],
) -> None:
    """Add the three routes to ``app`` (before it starts). ``count_pending`` is read into
    ``cloudbrain_messages_pending`` at each scrape; when the database does not answer in
    time, the last value stays."""
    pending = Shared(count_pending)

    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz() -> JSONResponse:
        failed = await readiness.problems()
        if failed:
            return JSONResponse({"status": "unavailable", "failed": failed}, 503)
        return JSONResponse({"status": "ok"})

    async def scrape(request: Request) -> Response:
        try:
            await can_read(request)
        except ProtocolError as refused:
            # The error body of the REST API, not the web view's error page: a scraper reads it.
            return error_body(refused.code, refused.detail, STATUS.get(refused.code, 400))
        try:
            metrics.pending.set(await pending(CHECK_SECONDS))
        except Exception as exc:  # the database is away: the rest is still worth reading
            log.debug("metrics: pending messages not counted: %s", exc)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    # Not part of Familio's REST API, so not in its OpenAPI document either.
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
