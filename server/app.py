"""The server process: database, hub, WebSocket listener and housekeeping, started and stopped
together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import serve as websocket_serve

from cloudbrain.auth_limit import AuthFailures
from cloudbrain.db import create_engine, upgrade
from cloudbrain.db.trouble import explained
from cloudbrain.db.types import utcnow
from cloudbrain.errors import CloudBrainError, ProtocolError
from cloudbrain.familio.access import Access, trusted_hosts
from cloudbrain.familio.app import Context, WebServer, make_app
from cloudbrain.familio.social import SocialChanges
from cloudbrain.familio.standing import Standing
from cloudbrain.files import private_home
from cloudbrain.maildir.gateway import MailGateway
from cloudbrain.memory.embedding import available_embedder, lexical_warning
from cloudbrain.memory.reembed import reembed
from cloudbrain.memory.store import MemoryStore
from cloudbrain.protocol import Answer, ServerFrame, parse_client_frame
from cloudbrain.server.ask import AskService
from cloudbrain.server.brain import BrainService
from cloudbrain.server.cluster import HEARTBEAT_SECONDS, Cluster, RemoteSession
from cloudbrain.server.connection import ConnectionHandler
from cloudbrain.server.directory import DirectoryService, DirectoryStore
from cloudbrain.server.familio import HubFamilio
from cloudbrain.server.feed import DeliveryFeed
from cloudbrain.server.handlers import refusal
from cloudbrain.server.housekeeping import Housekeeping
from cloudbrain.server.hub import Hub
from cloudbrain.server.legacy import LegacyClients
from cloudbrain.server.mail import HubFamily
from cloudbrain.server.memory import MemoryService
from cloudbrain.server.metrics import Metrics
from cloudbrain.server.node_name import NodeName
from cloudbrain.server.observe import Readiness, add_routes
from cloudbrain.server.outbox import OutboxBudget
from cloudbrain.server.social import SocialService
from cloudbrain.server.spool import Spool
from cloudbrain.server.summary import make_summarizer
from cloudbrain.settings import Settings
from cloudbrain.storage.activity import Activity
from cloudbrain.storage.asks import AskStore
from cloudbrain.storage.brains import BrainStore
from cloudbrain.storage.messages import MessageStore
from cloudbrain.storage.profiles import ProfileStore
from cloudbrain.storage.reputation import ReputationStore
from cloudbrain.storage.social import SocialStore
from cloudbrain.tls import plaintext_refusal, server_context

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 5.0  # how soon a node's recall sees memories other nodes stored


class Server:
    """A running CloudBrain server. ``async with Server(settings) as server: ...``"""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: AsyncEngine | None = None
        self.hub: Hub | None = None
        self._listener: WebSocketServer | None = None
        self._housekeeping = Housekeeping()
        self._reembed = False  # whether memories may be embedded again with this embedder
        self._smtp: asyncio.Server | None = None
        self.gateway: MailGateway | None = None
        self.mail_family: HubFamily | None = None
        self.spool: Spool | None = None
        self.standing: Standing | None = None
        self.web: WebServer | None = None
        self.cluster: Cluster | None = None
        self.feed: DeliveryFeed | None = None
        self._name: NodeName | None = None  # this node's name on Redis, in a cluster
        self._holding: asyncio.Task[None] | None = None  # renews it until the cluster does
        self._tls: ssl.SSLContext | None = None
        # This server's own, so that several servers in one process count apart.
        self.metrics = Metrics(settings.node)

    @property
    def port(self) -> int:
        """The port actually listened on (useful when the settings asked for port 0)."""
        assert self._listener is not None, "server not started"
        return int(self._listener.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return self.settings.with_(port=self.port).url

    async def start(self) -> None:
        settings = self.settings
        why_not = plaintext_refusal(self._listeners(), settings.tls, settings.allow_plaintext)
        if why_not is not None:
            raise CloudBrainError("refusing to listen in clear text", hint=why_not)
        # The data folder holds tokens, memories and mail: its owner's only (0700).
        private_home(settings.home)
        if settings.redis_url:
            # First of all: a second start under a live node's name must change nothing
            # (the next step ends that name's sessions in the database).
            self._name = await self._claim_name(settings.redis_url)
        try:
            await self._start()
        except BaseException:
            await self._unclaim()
            raise

    def _listeners(self) -> dict[str, str]:
        """The listeners this server opens, by name, with the address each binds."""
        settings = self.settings
        wanted = {"WebSocket": "ws", "web view": "http", "mail gateway": "smtp"}
        on = {"WebSocket": True, "web view": settings.http, "mail gateway": settings.smtp}
        return {name: settings.listening_host(key) for name, key in wanted.items() if on[name]}

    async def _claim_name(self, redis_url: str) -> NodeName:
        """Hold this node's name on Redis (see :mod:`cloudbrain.server.node_name`), or raise
        saying who holds it."""
        name = NodeName(aioredis.Redis.from_url(redis_url, socket_timeout=5), self.settings.node)
        try:
            await name.claim()
        except BaseException:
            await name.redis.aclose()
            raise
        # Migrations and loading the embedder may outlast the claim's TTL: renew it until the
        # cluster's heartbeat does.
        self._holding = asyncio.create_task(self._hold(name), name="node name")
        return name

    @staticmethod
    async def _hold(name: NodeName) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            # Without Redis, the cluster registers the node when Redis is back.
            with contextlib.suppress(RedisError, OSError):
                await name.renew()

    async def _stop_holding(self) -> None:
        if self._holding is not None:
            self._holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._holding
            self._holding = None

    async def _unclaim(self) -> None:
        """A start that failed gives its node's name back, so that the next start may take it."""
        await self._stop_holding()
        if self.cluster is not None:
            await self.cluster.stop()
            self.cluster = None
        elif self._name is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._name.release()
            await self._name.redis.aclose()
        self._name = None

    async def _start(self) -> None:
        settings = self.settings
        self._tls = server_context(*settings.tls_files)
        log.info("database: %s", _redact(settings.db_url))
        async with explained(settings.db_url):
            await asyncio.to_thread(upgrade, settings.db_url)
        self.engine = create_engine(settings.db_url)
        store = MessageStore(self.engine)
        stale = await store.close_node_sessions(settings.node, "server restart")
        if stale:
            log.info(
                "closed %d session(s) left open by an earlier run of node %r", stale, settings.node
            )
        embedder, why_not = await asyncio.to_thread(available_embedder, settings.embedder)
        if why_not:
            log.warning("%s", lexical_warning(settings.embedder, why_not))
        self._reembed = why_not is None  # a stand-in's vectors must not replace the real ones
        memory = MemoryStore(self.engine, embedder)
        reputation = ReputationStore(self.engine)
        self.standing = Standing(reputation)
        directory = DirectoryStore(ProfileStore(self.engine), store, reputation)
        hub: Hub
        ask_store, brains, social = (
            AskStore(self.engine),
            BrainStore(self.engine),
            SocialStore(self.engine),
        )
        social_changes = SocialChanges(social)
        asks = AskService(
            ask_store,
            directory,
            memory,
            lambda name: hub.answering_session(name),
            make_summarizer(settings.summarizer),
            settings.max_asks_per_session,
            metrics=self.metrics,
        )
        self.spool = None
        if settings.spool:
            self.spool = Spool(settings.home / "spool", settings.mail_domain, store)
            written, moved = await self.spool.reconcile()
            if written or moved:
                log.info("spool: wrote %d missing copies, filed %d delivered ones", written, moved)
            await self.spool.start()
        hub = self.hub = Hub(
            store,
            MemoryService(memory, store.session_agents, self.metrics),
            BrainService(brains),
            DirectoryService(directory, lambda: self.url),
            asks,
            SocialService(social_changes, social, reputation),
            self.spool,
            node=settings.node,
            outboxes=OutboxBudget(
                session_bytes=settings.outbox_bytes,
                node_bytes=settings.node_outbox_bytes,
                session_frames=settings.outbox_limit,
            ),
            metrics=self.metrics,
        )
        self.hub.writer.start()
        if self._name is not None:
            await self._join_cluster(self._name, hub, store, memory)
        if settings.smtp:
            await self._start_gateway(hub)
        if settings.http:
            family = HubFamilio(directory, asks, lambda: self.url)
            hub.presence_listeners.append(family.presence)
            familio = Context(
                family,
                memory,
                Access(
                    self.engine,
                    settings.http_reads,
                    trusted_hosts(
                        settings.listening_host("http"),
                        " ".join([settings.http_hosts, *self._certificate_names()]),
                    ),
                    secure_cookies=self._tls is not None,
                    failures=AuthFailures(
                        delay=settings.http_login_delay, most=settings.http_login_failures
                    ),
                ),
                social,
                social_changes,
                reputation,
                Activity(self.engine, ask_store, brains),
            )
            app = make_app(familio)
            cluster = self.cluster
            add_routes(
                app,
                self.metrics,
                Readiness(self.engine, cluster.redis.ping if cluster is not None else None),
                store.count_pending,
            )
            self.web = WebServer(app, familio)
            await self.web.start(
                settings.listening_host("http"), settings.http_port, settings.tls_files
            )
        legacy = (
            LegacyClients(hub, store, settings, brains, social_changes)
            if settings.legacy_protocol
            else None
        )
        self._listener = await websocket_serve(
            ConnectionHandler(self.hub, self.engine, settings, legacy, self.metrics),
            settings.listening_host("ws"),
            settings.port,
            ssl=self._tls,
            max_size=settings.max_frame_bytes,
            # Compression costs more CPU than it saves on small JSON frames.
            compression=None,
            ping_interval=20,
            ping_timeout=20,
        )
        jobs = self._housekeeping
        jobs.once(self._prepare_recall(memory), "vector index")
        jobs.every(
            settings.revocation_poll, self._revocation_watch(), "checking for revoked agents"
        )
        jobs.every(settings.expiry_sweep, self.hub.expire, "expiry sweep")
        jobs.every(settings.reputation_every, self._reputation_refresh(), "reputation", now=True)
        assert self._listener is not None
        bound = ", ".join(_address(sock.getsockname()) for sock in self._listener.sockets)
        log.info(
            "CloudBrain server listening on %s (node %r); clients on this machine use %s",
            bound,
            settings.node,
            self.url,
        )
        if self.web is not None:
            log.info(
                "Familio, the web view, listening on %s; on this machine %s",
                _address(self.web.address),
                self.http_url,
            )

    def _certificate_names(self) -> list[str]:
        """The names the server's certificate carries: the names people type to reach it, so
        the web view takes them as its Host without a CLOUDBRAIN_HTTP_HOSTS entry."""
        cert, _ = self.settings.tls_files
        if not cert:
            return []
        from cloudbrain.certificates import certificate_names

        return certificate_names(Path(cert))

    async def _prepare_recall(self, memory: MemoryStore) -> None:
        """Load the vector index now rather than at the first recall, which would wait for it;
        then embed again what the embedder did not embed (see :mod:`reembed`)."""
        await memory.load_index()
        if self._reembed:
            await reembed(memory, stopping=self._housekeeping.stopping)

    async def _join_cluster(
        self, name: NodeName, hub: Hub, store: MessageStore, memory: MemoryStore
    ) -> None:
        """Become one node of several, through Redis (see :mod:`cloudbrain.server.cluster`)."""
        settings = self.settings

        def remote_answer(proxy: RemoteSession, text: str) -> None:
            frame = parse_client_frame(text)
            if isinstance(frame, Answer):
                reply: ServerFrame | None
                try:
                    reply = hub.asks.answer(proxy, frame)
                except ProtocolError as refused:
                    reply = refusal(frame, refused)
                if reply is not None:
                    proxy.send(reply.to_json())

        cluster = Cluster(
            name,
            settings.redis_url,
            local_session=hub.session,
            hosts=lambda agent_id: bool(hub.sessions_of(agent_id)),
            on_remote_presence=hub.tell_presence,
            on_remote_answer=remote_answer,
            end_node_sessions=lambda node: store.close_node_sessions(node, "node gone"),
            open_session_nodes=store.nodes_with_open_sessions,
            metrics=self.metrics,
        )
        self.feed = DeliveryFeed(store, hub.sessions_of, hub.local_agents, cluster.poll_seconds)
        cluster.feed_ring, cluster.feed_offer = self.feed.ring, self.feed.offer
        hub.asks.forward = lambda session, frame: cluster.forward_answer(
            session, frame.ask, frame.to_json()
        )
        hub.cluster = self.cluster = cluster
        self.feed.start(after=await store.last_delivery())
        await self._stop_holding()  # the cluster's heartbeat renews the name from now on
        await cluster.start()
        self._housekeeping.every(CATCH_UP_SECONDS, memory.catch_up, "vector catch-up")

    async def _start_gateway(self, hub: Hub) -> None:
        settings = self.settings
        assert self.engine is not None
        self.mail_family = HubFamily(hub, self.engine)
        self.gateway = gateway = MailGateway(
            self.mail_family,
            settings.home / "spool",
            settings.mail_domain,
            trust_loopback=settings.smtp_trust_loopback,
            tls=self._tls,
            implicit_tls=settings.smtp_implicit_tls,
            failures=AuthFailures(delay=settings.smtp_auth_delay, most=settings.smtp_auth_failures),
        )
        host = settings.listening_host("smtp")
        if settings.smtp_implicit_tls and self._tls is None:
            raise CloudBrainError(
                "the mail gateway cannot speak TLS from the first byte without a certificate",
                hint="run `cloudbrain tls init`, or pass --tls-cert and --tls-key",
            )
        try:
            self._smtp = await asyncio.get_running_loop().create_server(
                lambda: gateway.smtp(settings.smtp_max_bytes),
                host,
                settings.smtp_port,
                ssl=self._tls if settings.smtp_implicit_tls else None,
            )
        except OSError as exc:
            raise CloudBrainError(
                f"cannot listen for mail on {host}:{settings.smtp_port}: {exc.strerror or exc}",
                hint="pick another --smtp-port, or run without the mail gateway (--no-smtp)",
            ) from None
        resumed = gateway.answer_waiting()
        if resumed:
            log.info("answering %d mailed ask(s) accepted before a restart", resumed)
        log.info(
            "mail gateway on %s for @%s (%s)",
            ", ".join(_address(sock.getsockname()) for sock in self._smtp.sockets),
            settings.mail_domain,
            "TLS from the first byte"
            if settings.smtp_implicit_tls
            else "STARTTLS"
            if self._tls
            else "no TLS",
        )

    @property
    def http_url(self) -> str:
        """Where the web view and REST API answer."""
        assert self.web is not None, "no web view"
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.settings.local_host('http')}:{self.web.port}"

    @property
    def smtp_port(self) -> int:
        """The port the mail gateway listens on."""
        assert self._smtp is not None, "no mail gateway"
        return int(self._smtp.sockets[0].getsockname()[1])

    def _reputation_refresh(self) -> Callable[[], Awaitable[None]]:
        """Reputation, worked out again whenever what it depends on changed; the directory
        reads what was worked out last."""
        standing, hub = self.standing, self.hub
        assert standing is not None and hub is not None

        async def refresh() -> None:
            if await standing.refresh():
                hub.directory.store.forget_history()

        return refresh

    def _revocation_watch(self) -> Callable[[], Awaitable[None]]:
        """A check for agents revoked since the last one (by the CLI, or another node)."""
        hub = self.hub
        assert hub is not None
        since = utcnow()

        async def check() -> None:
            nonlocal since
            since = await hub.check_revocations(since)

        return check

    async def stop(self) -> None:
        """Stop accepting, close connections (1001), store what is queued, release the database."""
        await self._housekeeping.stop()
        if self.web is not None:
            await self.web.stop()
        if self.hub is not None:
            self.hub.stopping = True
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
        if self.hub is not None:
            await self.hub.store.close_node_sessions(self.settings.node, "shutdown")
        if self._smtp is not None:
            self._smtp.close()
            await self._smtp.wait_closed()
        if self.feed is not None:
            await self.feed.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        if self.gateway is not None:
            await self.gateway.stop()
        if self.mail_family is not None:
            await self.mail_family.close()
        if self.hub is not None:
            await self.hub.writer.stop()
            self.hub.store.close()
        if self.spool is not None:
            await self.spool.stop()
        if self.engine is not None:
            await self.engine.dispose()
        log.info("CloudBrain server stopped")

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(settings: Settings) -> None:
    """Run a server until SIGINT or SIGTERM, then shut it down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Server(settings):
        settle()
        await stop.wait()
        log.info("shutting down")


def settle() -> None:
    """Once started: what exists now lives as long as the process, so the garbage collector
    stops looking at it. Its full collections otherwise scanned every module, model and
    table (about 100 ms each, a pause in whichever request was running)."""
    gc.collect()
    gc.freeze()


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _address(sockname: tuple[str, int] | tuple[str, int, int, int]) -> str:
    """An address a socket is bound to, as ``host:port`` (``[host]:port`` for IPv6)."""
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
