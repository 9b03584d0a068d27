"""The hot path's one transaction: store a batch of messages with their deliveries, and mark
acked deliveries. Plain synchronous code over one connection, so the whole batch crosses from
the event loop to the database once (see :class:`cloudbrain.db.TransactionRunner`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from cloudbrain.db.models import agents, deliveries, messages, subscriptions
from cloudbrain.db.types import utcnow
from cloudbrain.server.router import Envelope, Stored, recipients


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
    # One statement, executed for many parameter sets: compiled once and looped over in the
    # driver. (A statement per recipient with an IN list is compiled anew each time: slower.)
    now = utcnow()
    conn.execute(
        update(deliveries)
        .where(
            deliveries.c.recipient_id == bindparam("recipient"),
            deliveries.c.message_id == bindparam("message"),
            # An ack after the TTL ran out still means the copy arrived.
            deliveries.c.state != "delivered",
        )
        .values(state="delivered", delivered_at=bindparam("now")),
        [{"recipient": r, "message": m, "now": now} for r, m in acks],
    )


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
    rows = conn.execute(
        select(
            messages.c.id,
            messages.c.sender_id,
            messages.c.created_at,
            func.count(deliveries.c.seq),
        )
        .outerjoin(deliveries, deliveries.c.message_id == messages.c.id)
        .where(messages.c.id.in_([r.envelope.id for r in results]))
        .group_by(messages.c.id, messages.c.sender_id, messages.c.created_at)
    )
    earlier = {row[0]: (row[1], (row[2], row[3])) for row in rows}
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

    message_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for result in fresh:
        e = result.envelope
        result.recipient_ids = recipients(
            e, subscribers=subscribers.get(e.topic or "", ()), active_agents=active
        )
        message_rows.append(
            {
                "id": e.id,
                "sender_id": e.sender_id,
                "session_id": e.session_id,
                "kind": e.kind,
                "topic": e.topic,
                "body": e.body,
                "meta": e.meta,
                "conversation": e.conversation,
                "reply_to": e.reply_to,
                "created_at": e.created_at,
                "expires_at": e.expires_at,
            }
        )
        delivery_rows.extend(
            {"message_id": e.id, "recipient_id": rid, "state": "pending"}
            for rid in result.recipient_ids
        )
    conn.execute(messages.insert(), message_rows)
    if delivery_rows:
        conn.execute(deliveries.insert(), delivery_rows)
