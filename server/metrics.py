"""What the server counts and times, for ``GET /metrics`` (Prometheus' text format).

Every metric lives in a registry of the :class:`Metrics` object the server makes when it is
wired, never in the library's global one: a test process runs several servers, and each must
count its own. The parts that measure get the object passed in and touch it in one line each;
what is cheap to read when scraped (sessions, Redis) is read then instead of being counted.

The names and what they mean are listed in the README ("Watching a server").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# The classic text format, which every Prometheus reads (newer clients announce 1.0.0, which
# older servers refuse); with names of plain ASCII, as these are, the two are the same text.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: a commit takes milliseconds; an ask waits for people's models, up to its timeout.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
RECALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Items (messages and acks) in one transaction of the batch writer, which takes up to 500.
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


class Metrics:
    """One server's metrics. Counters carry ``_total`` in the exposition, as Prometheus wants."""

    def __init__(self, node: str = "") -> None:
        self.registry = registry = CollectorRegistry()
        Gauge(
            "cloudbrain_node_info", "This server node, by name", ["node"], registry=registry
        ).labels(node=node).set(1)
        self.connections = Gauge(
            "cloudbrain_connections",
            "Open WebSocket connections, authenticated or not",
            registry=registry,
        )
        self.sessions = Gauge(
            "cloudbrain_sessions",
            "Live agent sessions on this node (WebSocket, original protocol and mail gateway)",
            registry=registry,
        )
        self.accepted = Counter(
            "cloudbrain_messages_accepted",
            "Messages stored and receipted (resends of a stored one not counted), by kind",
            ["kind"],
            registry=registry,
        )
        self.delivered = Counter(
            "cloudbrain_messages_delivered",
            "Message copies handed to a session of this node: live as stored here, replayed "
            "from the database, or stored by another node of the cluster",
            ["path"],
            registry=registry,
        )
        self.acked = Counter(
            "cloudbrain_messages_acked",
            "Acks of message copies written to the database (a repeated ack counts again)",
            registry=registry,
        )
        self.pending = Gauge(
            "cloudbrain_messages_pending",
            "Message copies stored and not yet acked by their recipients (all nodes; read "
            "from the database when scraped)",
            registry=registry,
        )
        self.batch_size = Histogram(
            "cloudbrain_write_batch_size",
            "Messages and acks committed in one transaction of the batch writer",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "cloudbrain_write_commit_seconds",
            "Time one batch's transaction took, when it committed",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.write_failures = Counter(
            "cloudbrain_write_failures",
            "Batch transactions that failed (the writer tries again while the database is away)",
            registry=registry,
        )
        self.asks = Counter(
            "cloudbrain_asks",
            "Asks that ended, by outcome: answered, nobody_knows, repeated (asked again with "
            "its ask_id: the stored result), cancelled (the asker left), failed",
            ["outcome"],
            registry=registry,
        )
        self.ask_seconds = Histogram(
            "cloudbrain_ask_seconds",
            "Time from an ask's frame to its result (or its end)",
            buckets=ASK_BUCKETS,
            registry=registry,
        )
        self.recall_seconds = Histogram(
            "cloudbrain_recall_seconds",
            "Time a recall request took to search the memories",
            buckets=RECALL_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "cloudbrain_errors",
            "Error frames sent to clients, by error code",
            ["code"],
            registry=registry,
        )
        self.cluster_sent = Counter(
            "cloudbrain_cluster_sent",
            "Commands this node sent to Redis, by channel: doorbell, presence, nodes, node "
            "(frames for another node's sessions) and sessions (this node's session list)",
            ["channel"],
            registry=registry,
        )
        self.cluster_received = Counter(
            "cloudbrain_cluster_received",
            "Messages this node received from Redis, by channel",
            ["channel"],
            registry=registry,
        )
        self.cluster_dropped = Counter(
            "cloudbrain_cluster_dropped",
            "Commands for Redis dropped because too many were waiting",
            registry=registry,
        )

    def error(self, code: str) -> None:
        self.errors.labels(code=str(code)).inc()

    def count_sessions(self, read: Callable[[], int]) -> None:
        """Read the number of live sessions from ``read`` when scraped."""
        self.sessions.set_function(read)

    def watch_redis(self, healthy: Callable[[], bool]) -> None:
        """In a cluster: export whether this node reaches Redis, as ``healthy`` says."""
        Gauge(
            "cloudbrain_cluster_redis_up",
            "1 while this node reaches Redis, 0 while it does not (only in a cluster)",
            registry=self.registry,
        ).set_function(lambda: 1.0 if healthy() else 0.0)

    @contextmanager
    def timing(self, histogram: Histogram) -> Iterator[None]:
        """Observe how long the block took, when it ends without raising."""
        started = time.perf_counter()
        yield
        histogram.observe(time.perf_counter() - started)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
