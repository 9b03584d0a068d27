"""Who is handed a stored message, and when: decided here, without I/O.

- After a batch of messages is committed (:func:`after_commit`): each sender gets its receipt
  (or a refusal, when another sender owns the id), each recipient's sessions on this node get
  the message, recipients with no session here are kept for the mail spool, and the other
  nodes hear what was stored, since they may hold sessions of the recipients.
- From the other nodes (:class:`FeedPosition`): where the feed reads what they stored, so that
  a message whose commit came late is still read, and which agents' messages it reads.
- Per session (:class:`ReplayOrder`): while its unacked messages are replayed from the
  database, live messages are held back, then released minus what the replay sent; and a
  message that reaches the session twice (stored here, then seen again by the cluster's feed)
  goes out once.

The hub, the feed and the sessions carry out what these decide (see ``hub``, ``feed`` and
``session``).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from cloudbrain.envelope import Envelope, Stored
from cloudbrain.errors import ErrorCode
from cloudbrain.protocol import Error, Receipt

S = TypeVar("S")  # a session, whatever carries the effects out

SENT_REMEMBERED = 1000  # message ids a session remembers having been sent
# PostgreSQL hands out positions (``seq``) before the transactions that take them commit: a
# position can appear after a higher one was read. How long such a commit may take.
LATE_COMMIT_SECONDS = 5.0
NAMED_AGENTS = 500  # the feed names this node's agents in its query while they are this few
TAKEN = "another sender already used this message id; make a new one"


@dataclass(frozen=True)
class Respond(Generic[S]):
    """Send ``frame`` (a receipt or an error) to the sender ``to``."""

    to: S
    frame: Receipt | Error


@dataclass(frozen=True)
class Hand(Generic[S]):
    """Hand the message ``message_id`` (its ``deliver`` frame is ``text``) to session ``to``."""

    to: S
    message_id: str
    text: str


@dataclass(frozen=True)
class Keep:
    """Keep ``envelope`` for the recipients that have no session here (the mail spool)."""

    envelope: Envelope
    recipient_ids: list[str]


@dataclass(frozen=True)
class Tell:
    """Tell the other nodes what was stored: (message id, deliver frame, recipient ids)."""

    stored: list[tuple[str, str, list[str]]]


Effect = Respond[S] | Hand[S] | Keep | Tell


def after_commit(
    results: list[tuple[S, Stored]], sessions_of: Callable[[str], Collection[S]]
) -> list[Effect[S]]:
    """What follows the commit of a batch: ``results`` pairs each sender with what became of
    its message; ``sessions_of`` gives a recipient's sessions on this node."""
    effects: list[Effect[S]] = []
    crossing: list[tuple[str, str, list[str]]] = []
    for sender, stored in results:
        envelope = stored.envelope
        if stored.conflict:
            error = Error(re=envelope.id, code=ErrorCode.DUPLICATE_ID, detail=TAKEN)
            effects.append(Respond(sender, error))
            continue
        receipt = Receipt(
            re=envelope.id, recipients=stored.recipients, at=stored.at, duplicate=stored.duplicate
        )
        effects.append(Respond(sender, receipt))
        if not stored.recipient_ids:
            continue
        text = envelope.deliver_frame().to_json()
        away = []
        for recipient_id in stored.recipient_ids:
            sessions = sessions_of(recipient_id)
            if not sessions:
                away.append(recipient_id)
            effects += [Hand(session, envelope.id, text) for session in sessions]
        if away:
            effects.append(Keep(envelope, away))
        crossing.append((envelope.id, text, stored.recipient_ids))
    if crossing:
        effects.append(Tell(crossing))
    return effects


@dataclass
class FeedPosition:
    """Where the feed reads next: after the highest position read at least
    :data:`LATE_COMMIT_SECONDS` ago. What was read since is read again (and each session skips
    what it was sent), so a position that appears late is not passed over. Times are
    monotonic seconds, given by the caller."""

    safe: int  # positions up to here were read long enough ago
    _reads: deque[tuple[float, int]] = field(default_factory=deque)  # (when, highest then)

    def after(self, now: float) -> int:
        """The position to read after, at ``now``."""
        while self._reads and self._reads[0][0] <= now - LATE_COMMIT_SECONDS:
            self.safe = max(self.safe, self._reads.popleft()[1])
        return self.safe

    def read(self, now: float, highest: int) -> None:
        """A read that began at ``now`` reached position ``highest``."""
        self._reads.append((now, highest))


def feed_among(local_agents: Collection[str]) -> list[str] | None:
    """Whose deliveries the feed reads: this node's agents, named while they are few enough
    (``None``: everyone's, and the sessions pick theirs). An empty list: nobody's, since a
    session that comes gets its messages by replay."""
    return list(local_agents) if len(local_agents) <= NAMED_AGENTS else None


@dataclass
class ReplayOrder:
    """Replay first, in order, and nothing twice, for one session.

    A session starts replaying. Live messages that come meanwhile are held (the session keeps
    their frames, within its byte budget); when the budget cannot hold them they are dropped,
    and the replay must read the database once more, since they are stored. At the end of the
    replay the held messages go out, but for those the replay itself sent.
    """

    replaying: bool = True
    held: list[tuple[str, str, int]] = field(default_factory=list)  # (id, frame, bytes)
    overflowed: bool = False  # held messages were dropped: read the database once more
    _replayed: set[str] = field(default_factory=set)
    _sent: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def first_time(self, message_id: str) -> bool:
        """True the first time a message is handed to this session (of the last
        :data:`SENT_REMEMBERED`), so it goes out once however it arrived."""
        if message_id in self._sent:
            return False
        self._sent[message_id] = None
        if len(self._sent) > SENT_REMEMBERED:
            self._sent.popitem(last=False)
        return True

    def live(self, message_id: str) -> Literal["send", "hold", "skip"]:
        """What to do with a live message: send it now, hold it (if it fits; else
        :meth:`drop_held`), or skip it (sent before, or the replay will read it again)."""
        if not self.first_time(message_id):
            return "skip"
        if not self.replaying:
            return "send"
        return "skip" if self.overflowed else "hold"

    def hold(self, message_id: str, text: str, size: int) -> None:
        self.held.append((message_id, text, size))

    @property
    def held_bytes(self) -> int:
        return sum(size for _, _, size in self.held)

    def drop_held(self) -> int:
        """Give up the held messages (the replay reads them again); returns their bytes."""
        freed = self.held_bytes
        self.held = []
        self.overflowed = True
        return freed

    def replayed(self, message_id: str) -> None:
        """The replay sent this message."""
        self.first_time(message_id)
        self._replayed.add(message_id)

    def finish(self) -> tuple[bool, list[str], int]:
        """End the replay: (whether it ended, the held frames to send now, the bytes held).
        It does not end when held messages were dropped: the caller reads the database once
        more (and the messages it then holds are released at the next try)."""
        freed = self.held_bytes
        held, self.held = self.held, []
        if self.overflowed:
            self.overflowed = False
            return False, [], freed
        self.replaying = False
        release = [text for message_id, text, _ in held if message_id not in self._replayed]
        self._replayed.clear()
        return True, release, freed
