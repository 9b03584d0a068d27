"""Several server nodes as one family, through Redis; the database stays the source of truth.

What crosses between nodes, and how:

- **Messages.** A node that stored messages rings the doorbell (a Redis channel); every node's
  :class:`~cloudbrain.server.feed.DeliveryFeed` then reads the new deliveries from the
  database and hands them to its own sessions. Acks go to the database as always.
- **Presence.** Each node keeps a hash of its sessions in Redis, with a TTL its heartbeat
  renews, and announces sessions coming and going on a channel; nodes tell their own
  presence-watching sessions and pages. ``who`` reads the database, where sessions are recorded;
  when a node's heartbeat stops (it died), another node ends its sessions there.
- **Asks.** A specialist on another node is asked through a :class:`RemoteSession`: frames for
  it go to its node's channel, and its answers come back to the node that asked.

When Redis is away, each node goes on serving its own agents; messages between nodes still
arrive, read from the database every :data:`POLL_WITHOUT_REDIS` seconds, and the log says so.
When Redis is back (or was restarted, empty, while the node did not look), every node
registers its sessions again, says so on a channel, and reads the others' sessions again,
whichever node is back first: each node subscribes before it reads, so a node that registers
later is heard of.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cloudbrain.protocol import ANSWERS_CAPABILITY, DeviceProfile, Presence
from cloudbrain.server.metrics import Metrics
from cloudbrain.server.node_name import NODE_TTL_SECONDS, PREFIX, NodeName, alive_key
from cloudbrain.server.session import LiveSession

log = logging.getLogger(__name__)

DOORBELL = f"{PREFIX}:doorbell"
PRESENCE = f"{PREFIX}:presence"
NODES = f"{PREFIX}:nodes"  # a node (re)joined: read its sessions again
HEARTBEAT_SECONDS = 3.0
POLL_WITH_REDIS = 2.0  # the feed looks this often even without a doorbell
POLL_WITHOUT_REDIS = 0.5
RETRY_SECONDS = 1.0
ASKS_REMEMBERED = 10_000
DOORBELL_NAMES = 1000  # recipients a doorbell names; more, and every node looks
DOORBELL_BYTES = 64 * 1024  # messages a doorbell carries; more, and nodes read the database


def node_channel(node: str) -> str:
    return f"{PREFIX}:node:{node}"


def channel_kind(channel: str) -> str:
    """A channel as metrics name it: one of a few words, never a node's name."""
    return {DOORBELL: "doorbell", PRESENCE: "presence", NODES: "nodes"}.get(channel, "node")


def sessions_key(node: str) -> str:
    return f"{PREFIX}:sessions:{node}"


@dataclass(frozen=True)
class Remote:
    """A session on another node, as its node announced it."""

    node: str
    session: str
    agent: str
    device: str
    capabilities: tuple[str, ...]
    profile: DeviceProfile | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "node": self.node,
                "session": self.session,
                "agent": self.agent,
                "device": self.device,
                "capabilities": list(self.capabilities),
                "profile": self.profile.model_dump() if self.profile else None,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Remote:
        data = json.loads(text)
        profile = data.get("profile")
        return cls(
            node=data["node"],
            session=data["session"],
            agent=data["agent"],
            device=data.get("device", ""),
            capabilities=tuple(data.get("capabilities", ())),
            profile=DeviceProfile.model_validate(profile) if profile else None,
        )


@dataclass(frozen=True)
class RemoteAgent:
    name: str


class RemoteSession:
    """Stands in, on this node, for a session on another one: what is sent to it goes to its
    node. Enough of :class:`LiveSession` for an ask to put a question to it."""

    def __init__(self, remote: Remote, cluster: Cluster) -> None:
        self.remote = remote
        self.agent = RemoteAgent(remote.agent)
        self.id = remote.session
        self.device = remote.device
        self.capabilities = frozenset(remote.capabilities)
        self.profile = remote.profile
        self.closing = False
        self._cluster = cluster

    def __repr__(self) -> str:
        return f"<session {self.id} of {self.agent.name!r} on node {self.remote.node!r}>"

    def send(self, text: str) -> None:
        message = {"to": self.id, "frame": text, "origin": self._cluster.node}
        self._cluster.publish(node_channel(self.remote.node), message)


class Cluster:
    """This node's link to the others. The hub calls :meth:`stored`, :meth:`announce` and
    :meth:`answering`; the rest runs in the background."""

    def __init__(
        self,
        name: NodeName,
        url: str,
        local_session: Callable[[str], LiveSession | None],
        hosts: Callable[[str], bool],
        on_remote_presence: Callable[[Presence], None],
        on_remote_answer: Callable[[RemoteSession, str], None],
        end_node_sessions: Callable[[str], Any],
        open_session_nodes: Callable[[], Any],
        metrics: Metrics | None = None,
    ) -> None:
        self.url = url
        self.metrics = metrics or Metrics(name.node)
        self.metrics.watch_redis(lambda: self.healthy)
        self.node = name.node
        self._name = name  # claimed before the node started; the heartbeat renews it
        self.redis: aioredis.Redis = name.redis
        self.healthy = False
        self.feed_ring: Callable[[], None] = lambda: None
        self.feed_offer: Callable[[list[tuple[str, str, list[str]]]], None] = lambda _: None
        self._local_session = local_session
        self._hosts = hosts  # agent id -> whether it has a session on this node
        self._on_remote_presence = on_remote_presence
        self._on_remote_answer = on_remote_answer
        self._end_node_sessions = end_node_sessions
        self._open_session_nodes = open_session_nodes
        # This node's sessions as announced (JSON of a Remote): its hash in Redis, rewritten
        # whole when the node (re)joins and changed one session at a time in between.
        self._mine: dict[str, str] = {}
        self._others: dict[str, Remote] = {}  # other nodes' sessions, by session id
        # Sessions whose presence changed while other nodes' sessions were being read: what
        # the presence said wins over what was read (None: no reading under way).
        self._touched: set[str] | None = None
        # What the joiner task is asked to do: join (register, read everyone) or read again
        # the sessions of nodes that said they joined.
        self._wanted = asyncio.Event()
        self._rejoin = False
        self._to_learn: set[str] = set()
        self._joined_at = 0.0  # loop time of the last join
        self._proxies: dict[str, RemoteSession] = {}
        self._asked_by: dict[str, str] = {}  # ask id -> the node that asked, for answers
        self._outgoing: asyncio.Queue[tuple[str, str, str, str]] = asyncio.Queue(100_000)
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._join()
        except (RedisError, OSError) as exc:
            self._degraded(exc)
        self._tasks = [
            asyncio.create_task(self._listen(), name="cluster listen"),
            asyncio.create_task(self._publish_loop(), name="cluster publish"),
            asyncio.create_task(self._heartbeat(), name="cluster heartbeat"),
            asyncio.create_task(self._keep_joined(), name="cluster join"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self._name.release(sessions_key(self.node))
        await self.redis.aclose()

    def poll_seconds(self) -> float:
        """How often the feed reads the database without a doorbell."""
        return POLL_WITH_REDIS if self.healthy else POLL_WITHOUT_REDIS

    # --- called by the hub --------------------------------------------------------------------

    def stored(self, deliveries: list[tuple[str, str, list[str]]]) -> None:
        """Messages were stored here, each (id, deliver frame, recipient ids): nodes with
        sessions of the recipients hand them over. Small batches travel with the doorbell,
        which saves those nodes reading them back from the database."""
        recipients = {r for _, _, ids in deliveries for r in ids}
        message: dict[str, Any] = {"from": self.node}
        if len(recipients) <= DOORBELL_NAMES:
            message["to"] = sorted(recipients)
            if sum(len(text) for _, text, _ in deliveries) <= DOORBELL_BYTES:
                message["frames"] = deliveries
        self.publish(DOORBELL, message)

    def announce(self, session: LiveSession, presence: Presence) -> None:
        """A session of this node came or went."""
        remote = Remote(
            self.node,
            session.id,
            session.agent.name,
            session.device,
            tuple(sorted(session.capabilities)),
            session.profile,
        )
        text = remote.to_json()
        if presence.online:
            self._mine[session.id] = text
            self._send(("hset", sessions_key(self.node), session.id, text))
        else:
            self._mine.pop(session.id, None)
            self._send(("hdel", sessions_key(self.node), session.id, ""))
        self.publish(PRESENCE, {"presence": presence.to_json(), "session": text})

    def answering(self, name: str) -> RemoteSession | None:
        """A session of agent ``name`` on another node that takes questions, if there is one
        (the newest)."""
        found = [
            r
            for r in self._others.values()
            if r.agent == name and ANSWERS_CAPABILITY in r.capabilities
        ]
        if not found:
            return None
        remote = found[-1]
        proxy = self._proxies.get(remote.session)
        if proxy is None:
            proxy = self._proxies[remote.session] = RemoteSession(remote, self)
        return proxy

    def forward_answer(self, session: LiveSession, ask: str, frame: str) -> bool:
        """An answer from a session here to an ask another node put: send it there."""
        origin = self._asked_by.get(ask)
        if origin is None:
            return False
        self.publish(node_channel(origin), {"answer": frame, "session": session.id})
        return True

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._send(("publish", channel, "", json.dumps(message)))

    def _send(self, command: tuple[str, str, str, str]) -> None:
        """Queue a command for Redis (publish, or a change to this node's sessions), sent in
        order by one task, so the hub never waits on Redis."""
        try:
            self._outgoing.put_nowait(command)
        except asyncio.QueueFull:
            self.metrics.cluster_dropped.inc()
            log.warning("cluster: too much waiting for Redis; a %s to %s is dropped", *command[:2])

    # --- background ---------------------------------------------------------------------------

    def _want_join(self) -> None:
        self._rejoin = True
        self._wanted.set()

    async def _keep_joined(self) -> None:
        """Join again whenever asked (Redis came back, or lost this node's registration), and
        read again the sessions of nodes that joined; one at a time, in this one task."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            rejoin, nodes = self._rejoin, self._to_learn
            self._rejoin, self._to_learn = False, set()
            try:
                if rejoin:
                    await self._join()
                elif nodes:
                    await self._learn(nodes)
            except (RedisError, OSError) as exc:
                self._degraded(exc)
                await asyncio.sleep(RETRY_SECONDS)
                self._want_join()  # what this node knows of the others may be behind now
            except Exception:
                log.exception("cluster: joining failed; trying again")
                await asyncio.sleep(RETRY_SECONDS)
                self._want_join()

    async def _join(self) -> None:
        """Say this node is alive, register its sessions, say so to the other nodes (they
        read them), and learn the others'."""
        async with self.redis.pipeline(transaction=True) as registering:
            registering.set(alive_key(self.node), self._name.value, ex=NODE_TTL_SECONDS)
            registering.delete(sessions_key(self.node))
            if self._mine:
                registering.hset(sessions_key(self.node), mapping=self._mine)  # type: ignore[arg-type]
                registering.expire(sessions_key(self.node), NODE_TTL_SECONDS)
            await registering.execute()
        self._joined_at = asyncio.get_running_loop().time()
        await self.redis.publish(NODES, json.dumps({"joined": self.node}))
        await self._learn(None)
        if not self.healthy:
            log.info("cluster: joined through Redis at %s as node %r", self.url, self.node)
        self.healthy = True
        self.feed_ring()  # catch up with what was stored while Redis was away

    async def _learn(self, nodes: set[str] | None) -> None:
        """Read other nodes' sessions from Redis: every live node's (None), or those of
        ``nodes``. Presence heard meanwhile is newer than what was read, and wins."""
        self._touched = set()
        try:
            if nodes is None:
                start = len(sessions_key(""))
                names = {
                    key.decode()[start:]
                    async for key in self.redis.scan_iter(match=sessions_key("*"))
                }
            else:
                names = set(nodes)
            found: dict[str, Remote] = {}
            for node in names - {self.node}:
                if not await self.redis.exists(alive_key(node)):
                    continue
                for raw in (await self.redis.hgetall(sessions_key(node))).values():
                    remote = Remote.from_json(raw)
                    found[remote.session] = remote
        finally:
            touched, self._touched = self._touched, None
        others = {
            sid: remote
            for sid, remote in self._others.items()
            if sid in touched or (nodes is not None and remote.node not in nodes)
        }
        others.update((sid, remote) for sid, remote in found.items() if sid not in touched)
        self._others = others
        self._proxies = {sid: p for sid, p in self._proxies.items() if sid in others}

    def _degraded(self, exc: BaseException) -> None:
        if self.healthy or not self._tasks:
            log.warning(
                "cluster: Redis unavailable (%s); serving this node's agents, and reading "
                "other nodes' messages from the database every %.1fs until it is back",
                exc,
                POLL_WITHOUT_REDIS,
            )
        self.healthy = False

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                if not self.healthy:
                    self._want_join()
                    continue
                if not await self._name.renew():
                    # Redis restarted empty (or this process was paused past the TTL) and no
                    # connection of this node noticed: its sessions are not registered.
                    log.info("cluster: Redis had lost this node's registration; joining again")
                    self._want_join()
                    continue
                await self.redis.expire(sessions_key(self.node), NODE_TTL_SECONDS)
                await self._reap()
            except (RedisError, OSError) as exc:
                self._degraded(exc)
            except Exception:
                log.exception("cluster heartbeat failed; trying again")

    async def _reap(self) -> None:
        """End the sessions of nodes that stopped beating (killed, say), in the database and
        in what this node knows of the others. Not right after this node joined: if Redis
        restarted empty, the live nodes have not all registered again yet."""
        if asyncio.get_running_loop().time() - self._joined_at < NODE_TTL_SECONDS:
            return
        for node in await self._open_session_nodes():
            if node != self.node and not await self.redis.exists(alive_key(node)):
                ended = await self._end_node_sessions(node)
                if ended:
                    log.info("cluster: node %r is gone; ended its %d session(s)", node, ended)
        gone = {r.node for r in self._others.values()}
        for node in gone:
            if not await self.redis.exists(alive_key(node)):
                self._others = {k: v for k, v in self._others.items() if v.node != node}

    async def _publish_loop(self) -> None:
        while True:
            op, key, field, value = await self._outgoing.get()
            while True:
                try:
                    if op == "publish":
                        await self.redis.publish(key, value)
                    elif op == "hset":
                        await self.redis.hset(key, field, value)
                        await self.redis.expire(key, NODE_TTL_SECONDS)
                    else:
                        await self.redis.hdel(key, field)
                    kind = channel_kind(key) if op == "publish" else "sessions"
                    self.metrics.cluster_sent.labels(channel=kind).inc()
                    break
                except (RedisError, OSError) as exc:
                    self._degraded(exc)
                    # The feed's polling covers a lost doorbell, and rejoining rewrites this
                    # node's sessions: only messages to other nodes are worth the wait.
                    if key == DOORBELL or op != "publish":
                        break
                    await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                channels = (DOORBELL, PRESENCE, NODES, node_channel(self.node))
                await pubsub.subscribe(*channels)
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        self._receive(item["channel"].decode(), item["data"])
                    elif item.get("type") == "subscribe" and item.get("data") == len(channels):
                        # Listening (again: the client reconnects and subscribes by itself
                        # after Redis restarts). Only now is joining sure to hear of every
                        # node that joins after it reads the others' sessions.
                        self._want_join()
            except (RedisError, OSError) as exc:
                self._degraded(exc)
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                log.exception("cluster: reading from Redis failed; listening again")
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2

    def _receive(self, channel: str, data: bytes) -> None:
        self.metrics.cluster_received.labels(channel=channel_kind(channel)).inc()
        message = json.loads(data)
        if channel == DOORBELL:
            named = message.get("to")
            if message.get("from") == self.node or (
                named is not None and not any(self._hosts(agent_id) for agent_id in named)
            ):
                return
            frames = message.get("frames")
            if frames is not None and self.healthy:
                self.feed_offer([(m, t, ids) for m, t, ids in frames])
            else:
                self.feed_ring()
        elif channel == PRESENCE:
            remote = Remote.from_json(message["session"])
            if remote.node == self.node:
                return
            presence = Presence.model_validate_json(message["presence"])
            if self._touched is not None:
                self._touched.add(remote.session)
            if presence.online:
                self._others[remote.session] = remote
            else:
                self._others.pop(remote.session, None)
                self._proxies.pop(remote.session, None)
            self._on_remote_presence(presence)
        elif channel == NODES:
            if message.get("joined") not in (None, self.node):
                self._to_learn.add(message["joined"])
                self._wanted.set()
        elif "to" in message:  # a frame for a session here
            session = self._local_session(message["to"])
            if session is not None:
                frame = message["frame"]
                if '"type":"question"' in frame:
                    self._remember_asker(json.loads(frame)["ask"], message["origin"])
                session.send(frame)
        elif "answer" in message:  # an answer to an ask of this node
            proxy = self._proxies.get(message["session"])
            if proxy is not None:
                self._on_remote_answer(proxy, message["answer"])

    def _remember_asker(self, ask: str, origin: str) -> None:
        """Where the answers to ``ask`` go (the newest few thousand asks are remembered)."""
        self._asked_by[ask] = origin
        while len(self._asked_by) > ASKS_REMEMBERED:
            self._asked_by.pop(next(iter(self._asked_by)))
