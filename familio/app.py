"""Familio's web view and REST API as one FastAPI application, and the HTTP server that runs it
inside the CloudBrain server process.

Pages are rendered on the server with Jinja2 (readable without JavaScript; a few lines of
local script keep the family page live), the REST API lives under ``/api`` with its OpenAPI
document at ``/openapi.json`` and a reference at ``/docs``. Everything is served from here:
no page loads anything from another site, and every response says so to the browser
(:mod:`cloudbrain.familio.headers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from cloudbrain.errors import CloudBrainError, ErrorCode, ProtocolError
from cloudbrain.familio.access import Access
from cloudbrain.familio.headers import SecurityHeaders
from cloudbrain.familio.social import SocialChanges
from cloudbrain.familio.source import Family
from cloudbrain.ids import short_id
from cloudbrain.memory.store import MemoryStore
from cloudbrain.storage.activity import Activity
from cloudbrain.storage.reputation import ReputationStore
from cloudbrain.storage.social import SocialStore

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent

# Pages fetched by the family page's script, not opened by a person: a refusal stays a refusal
# there rather than a redirect to the login form.
FETCHED = frozenset({"/rows", "/events"})

# The HTTP status of each error code, for error bodies: {"error": {"code", "detail"}}.
STATUS = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.AUTH_FAILED: 401,
    ErrorCode.INVALID_FRAME: 422,
    ErrorCode.UNAVAILABLE: 503,
}


@dataclass
class Context:
    """Everything Familio's routes use: the stores are the server's own, built once when the
    process is wired."""

    family: Family
    memory: MemoryStore
    access: Access
    social: SocialStore
    social_changes: SocialChanges
    reputation: ReputationStore
    activity: Activity
    templates: Jinja2Templates = field(init=False)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(
            directory=HERE / "templates", context_processors=[login_context]
        )
        self.templates.env.filters["short_id"] = short_id


def login_context(request: Request) -> dict[str, Any]:
    """What every page shows of the login: who is logged in, and the token its forms carry
    (the read check looked the login up before any page is rendered)."""
    return {"login": getattr(request.state, "login", None)}


def familio_of(request: Request) -> Context:
    found: Context = request.app.state.familio
    return found


async def can_read(request: Request) -> None:
    """A dependency of every route: ``invalid_frame`` for a NUL in the path or query (no
    database can look it up: PostgreSQL refuses it), then ``auth_failed`` unless this request
    may read."""
    query = request.query_params.multi_items()
    if "\x00" in request.url.path or any("\x00" in k + v for k, v in query):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "the address holds a NUL (%00)")
    await familio_of(request).access.may_read(request)


def to_login(request: Request) -> bool:
    """Whether a refusal for want of a token sends the browser to the login form instead: a
    page a person opened, not the REST API, a write or what a page's script fetches."""
    from cloudbrain.familio.pages import wants_html

    path = request.url.path
    return wants_html(request) and request.method in ("GET", "HEAD") and path not in FETCHED


def here(request: Request) -> str:
    """This page's path and query: where a form on it, or the login, sends the browser back."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def login_address(request: Request) -> str:
    """/login, with the page to come back to once logged in."""
    back = here(request)
    return "/login" if back == "/" else f"/login?next={quote(back, safe='')}"


def error_body(code: str, detail: str, status: int) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"code": code, "detail": detail}}, status, headers=headers)


def make_app(familio: Context) -> FastAPI:
    from cloudbrain.familio import actions, api, login, pages

    app = FastAPI(
        title="CloudBrain Familio",
        version=version("cloudbrain"),
        summary="The AI family: profiles, follows, endorsements, reputation, asks and memories.",
        docs_url=None,  # /docs is a page of our own: no scripts from elsewhere
        redoc_url=None,
    )
    app.state.familio = familio
    app.include_router(api.router)
    app.include_router(login.router)
    app.include_router(actions.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(ProtocolError)
    async def refused(request: Request, exc: ProtocolError) -> Response:
        status = STATUS.get(exc.code, 400)
        if status == 401 and to_login(request):
            return RedirectResponse(login_address(request), 303)
        if pages.wants_html(request):
            return pages.error_page(request, status, exc.detail)
        return error_body(exc.code, exc.detail, status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        if pages.wants_html(request):
            return pages.error_page(request, 422, problems)
        return error_body(ErrorCode.INVALID_FRAME, problems, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        detail = str(exc.detail)
        if pages.wants_html(request):
            return pages.error_page(request, exc.status_code, detail)
        code = ErrorCode.NOT_FOUND if exc.status_code == 404 else "http_error"
        return error_body(code, detail, exc.status_code)

    return app


class _Embedded(uvicorn.Server):
    """uvicorn inside the CloudBrain server's event loop: the server process handles signals
    and tells this one to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """``await WebServer(app).start(host, port)``; ``await stop()``."""

    def __init__(self, app: FastAPI, familio: Context) -> None:
        self.app = app
        self.familio = familio
        self._server: _Embedded | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        assert self._socket is not None, "web server not started"
        return int(self._socket.getsockname()[1])

    @property
    def address(self) -> tuple[str, int]:
        assert self._socket is not None, "web server not started"
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    async def start(self, host: str, port: int, tls: tuple[str, str] = ("", "")) -> None:
        """Listen on ``host:port``; with a certificate and key (PEM files), over HTTPS."""
        # The socket is ours, so a port in use is our error to report (uvicorn would exit).
        try:
            self._socket = _listen(host, port)
        except OSError as exc:
            raise CloudBrainError(
                f"cannot listen for the web view on {host}:{port}: {exc.strerror or exc}",
                hint="pick another --http-port, or run without the web view (--no-http)",
            ) from None
        config = uvicorn.Config(
            # Outside FastAPI's own error handling, so even a 500 carries the headers.
            SecurityHeaders(self.app),
            lifespan="off",
            # uvicorn's lines go through the process's own handlers (and format: JSON too).
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            ssl_certfile=tls[0] or None,
            ssl_keyfile=tls[1] or None,
        )
        self._server = _Embedded(config)
        self._task = asyncio.create_task(self._server.serve([self._socket]), name="web")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise CloudBrainError("the web view stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.familio.stopping.set()  # live pages end their streams
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._socket is not None:
            self._socket.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket made as asyncio makes its own: with the protocol named, which
    is what makes asyncio switch Nagle's algorithm off on each connection (with it on, a
    response in two writes waited 40 ms for the client's delayed ACK)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(128)
    except OSError:
        listening.close()
        raise
    return listening
