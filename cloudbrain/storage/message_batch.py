"""The hot path's one transaction: store a batch of messages with their deliveries, and mark
acked deliveries. Plain synchronous code over one connection, so the whole batch crosses from
the event loop to the database once (see :class:`cloudbrain.db.TransactionRunner`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from cloudbrain.db.bulk import BulkStatement
from cloudbrain.db.models import agents, deliveries, messages, subscriptions
from cloudbrain.db.types import utcnow
from cloudbrain.envelope import Envelope, Stored, recipients

# The batch's writes go through the driver's executemany (see cloudbrain.db.bulk): most of a
# batch's time in Python was SQLAlchemy preparing each row.
_INSERT_MESSAGE = BulkStatement(
    insert(messages),
    (
        "id",
        "sender_id",
        "session_id",
        "kind",
        "topic",
        "body",
        "meta",
        "conversation",
        "reply_to",
        "created_at",
        "expires_at",
    ),
)
_INSERT_DELIVERY = BulkStatement(insert(deliveries), ("message_id", "recipient_id", "state"))
_MARK_DELIVERED = BulkStatement(
    update(deliveries)
    .where(
        deliveries.c.recipient_id == bindparam("recipient"),
        deliveries.c.message_id == bindparam("message"),
        # An ack after the TTL ran out still means the copy arrived.
        deliveries.c.state != bindparam("delivered"),
    )
    .values(state=bindparam("delivered"), delivered_at=bindparam("now")),
    ("recipient", "message", "delivered", "now"),
)


def store_batch(
    conn: Connection,
    envelopes: Sequence[Envelope],
    acks: Sequence[tuple[str, str]],
    *,
    retry: bool = False,
) -> list[Stored]:
    """``acks`` are (recipient agent id, message id) pairs. A message id seen before from the
    same sender is a resend: reported as a duplicate, nothing new is stored.

    ``retry``: this batch was tried before and the try failed, perhaps only its COMMIT's reply,
    so a message found stored may be one that try stored and nobody was told of. Such messages
    are reported stored now (not duplicates), with the recipients they still wait for, so they
    are delivered live; a copy that also reaches someone twice is one ack, as any resend."""
    results = [Stored(envelope) for envelope in envelopes]
    if results:
        _store_messages(conn, results)
        if retry:
            _resume_lost_commit(conn, results)
    if acks:
        _mark_delivered(conn, acks)
    return results


def _mark_delivered(conn: Connection, acks: Sequence[tuple[str, str]]) -> None:
    # One statement for many parameter sets, looped over in the driver. (A statement per
    # recipient with an IN list would be compiled anew each time: slower.)
    now = utcnow()
    _MARK_DELIVERED.executemany(conn, [(r, m, "delivered", now) for r, m in acks])


def _resume_lost_commit(conn: Connection, results: list[Stored]) -> None:
    found = {r.envelope.id: r for r in results if r.duplicate and r.original is not None}
    if not found:
        return
    rows = conn.execute(
        select(deliveries.c.message_id, deliveries.c.recipient_id).where(
            deliveries.c.message_id.in_(list(found)), deliveries.c.state == "pending"
        )
    )
    for message_id, recipient_id in rows:
        found[str(message_id)].recipient_ids.append(str(recipient_id))
    for result in found.values():
        result.duplicate = False


def _store_messages(conn: Connection, results: list[Stored]) -> None:
    earlier = _stored_before(conn, [r.envelope.id for r in results])
    fresh: list[Stored] = []
    first_in_batch: dict[str, Stored] = {}
    repeats: list[tuple[Stored, Stored]] = []
    for result in results:
        envelope = result.envelope
        if envelope.id in earlier:
            owner, result.original = earlier[envelope.id]
            result.duplicate = owner == envelope.sender_id
            result.conflict = not result.duplicate
        elif envelope.id in first_in_batch:
            first = first_in_batch[envelope.id]
            result.duplicate = first.envelope.sender_id == envelope.sender_id
            result.conflict = not result.duplicate
            repeats.append((result, first))
        else:
            first_in_batch[envelope.id] = result
            fresh.append(result)
    if fresh:
        _insert_fresh(conn, fresh)
    for repeat, first in repeats:
        repeat.original = (first.envelope.created_at, len(first.recipient_ids))


def _stored_before(conn: Connection, ids: list[str]) -> dict[str, tuple[str, tuple[datetime, int]]]:
    """Of ``ids``, those stored already: id -> (sender id, (accepted at, recipients)). Almost
    always none, so the recipients are counted only for what is found."""
    found = {
        message_id: (sender_id, created_at)
        for message_id, sender_id, created_at in conn.execute(
            select(messages.c.id, messages.c.sender_id, messages.c.created_at).where(
                messages.c.id.in_(ids)
            )
        )
    }
    if not found:
        return {}
    counts: dict[str, int] = {
        message_id: count
        for message_id, count in conn.execute(
            select(deliveries.c.message_id, func.count())
            .where(deliveries.c.message_id.in_(list(found)))
            .group_by(deliveries.c.message_id)
        )
    }
    return {
        message_id: (sender_id, (created_at, counts.get(message_id, 0)))
        for message_id, (sender_id, created_at) in found.items()
    }


def _insert_fresh(conn: Connection, fresh: list[Stored]) -> None:
    topics = {r.envelope.topic for r in fresh if r.envelope.kind == "topic"}
    subscribers: dict[str, list[str]] = defaultdict(list)
    if topics:
        rows = conn.execute(
            select(subscriptions.c.topic, subscriptions.c.agent_id)
            .join(agents, agents.c.id == subscriptions.c.agent_id)
            .where(subscriptions.c.topic.in_(topics), agents.c.revoked_at.is_(None))
        )
        for topic, agent_id in rows:
            subscribers[topic].append(agent_id)
    active: list[str] = []
    if any(r.envelope.kind == "broadcast" for r in fresh):
        active = list(conn.scalars(select(agents.c.id).where(agents.c.revoked_at.is_(None))))

    message_rows: list[tuple[Any, ...]] = []
    delivery_rows: list[tuple[str, str, str]] = []
    for result in fresh:
        e = result.envelope
        result.recipient_ids = recipients(
            e, subscribers=subscribers.get(e.topic or "", ()), active_agents=active
        )
        message_rows.append(
            (
                e.id,
                e.sender_id,
                e.session_id,
                e.kind,
                e.topic,
                e.body,
                e.meta,
                e.conversation,
                e.reply_to,
                e.created_at,
                e.expires_at,
            )
        )
        delivery_rows.extend((e.id, rid, "pending") for rid in result.recipient_ids)
    _INSERT_MESSAGE.executemany(conn, message_rows)
    _INSERT_DELIVERY.executemany(conn, delivery_rows)
