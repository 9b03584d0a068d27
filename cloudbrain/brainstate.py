"""An AI's brain state, and how two sessions' states become one.

The state is what a session needs to pick up where another left off: the task at hand, the
last thought, open conversations with their transcripts, what it has been learning about, its
counters, and how fast each device and model answered. It is saved as numbered versions on the
server. Two sessions of one AI on two devices each save from the version they loaded; when
one saves on top of a version it never saw, :func:`merge` combines the three (their common
base, the latest, the incoming) instead of letting the later save erase the earlier.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

MAX_TURNS = 50  # per conversation: older turns live on as memories, not in the state


class Conversation(BaseModel):
    turns: list[tuple[str, str]] = []  # (question, answer), oldest first
    updated_at: datetime | None = None
    # For models driven through Ollama's generate API: the context tokens, valid only for the
    # exact model digest that produced them. Another model gets the transcript instead.
    model: str | None = None
    digest: str | None = None
    context: list[int] | None = None


class Performance(BaseModel):
    """Answers given on one device with one model, and what they cost."""

    answers: int = 0
    tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.tokens and self.seconds else None

    @property
    def seconds_per_answer(self) -> float | None:
        return self.seconds / self.answers if self.answers else None

    def shown(self) -> tuple[float | None, float | None]:
        """Tokens per second (to 0.1) and seconds per answer (to 0.001), as reports show them;
        None for what was not measured."""
        speed, latency = self.tokens_per_second, self.seconds_per_answer
        return (
            None if speed is None else round(speed, 1),
            None if latency is None else round(latency, 3),
        )

    def __add__(self, other: Performance) -> Performance:
        return Performance(
            answers=self.answers + other.answers,
            tokens=self.tokens + other.tokens,
            seconds=self.seconds + other.seconds,
        )


class BrainState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_task: str | None = None
    last_thought: str | None = None
    conversations: dict[str, Conversation] = {}
    topics: dict[str, int] = {}  # topic -> questions answered about it
    counters: dict[str, int] = Field(default_factory=dict)  # answered, memories, facts, ...
    performance: dict[str, Performance] = {}  # "device/model" -> answers and their cost
    # What a client keeps that CloudBrain does not read (the original CloudBrain's last_insight,
    # brain_dump and checkpoint_data, say), as the latest save left it.
    extra: dict[str, JsonValue] = {}

    def spent(self) -> list[tuple[str, str, Performance]]:
        """(device, model, what answering cost there), by device and model."""
        found = []
        for key, performance in sorted(self.performance.items()):
            device, _, model = key.rpartition("/")
            found.append((device, model, performance))
        return found


def merge(base: BrainState, latest: BrainState, incoming: BrainState) -> BrainState:
    """Three-way merge: ``latest`` and ``incoming`` both grew from ``base``.

    Counts add up what each side added since the base; conversations are united, a
    conversation both sides continued keeps the longer transcript; scalar fields take the
    incoming value (it is the most recent thought) unless it left them unset.
    """
    return BrainState(
        current_task=incoming.current_task or latest.current_task,
        last_thought=incoming.last_thought or latest.last_thought,
        conversations=_merge_conversations(latest.conversations, incoming.conversations),
        topics=_add_deltas(base.topics, latest.topics, incoming.topics),
        counters=_add_deltas(base.counters, latest.counters, incoming.counters),
        performance={
            key: _merge_performance(
                base.performance.get(key, Performance()),
                latest.performance.get(key, Performance()),
                incoming.performance.get(key, Performance()),
            )
            for key in latest.performance.keys() | incoming.performance.keys()
        },
        extra=incoming.extra or latest.extra,
    )


def _add_deltas(
    base: dict[str, int], latest: dict[str, int], incoming: dict[str, int]
) -> dict[str, int]:
    keys = latest.keys() | incoming.keys()
    return {k: latest.get(k, 0) + incoming.get(k, 0) - base.get(k, 0) for k in sorted(keys)}


def _merge_performance(
    base: Performance, latest: Performance, incoming: Performance
) -> Performance:
    return Performance(
        answers=latest.answers + incoming.answers - base.answers,
        tokens=latest.tokens + incoming.tokens - base.tokens,
        seconds=latest.seconds + incoming.seconds - base.seconds,
    )


def _merge_conversations(
    latest: dict[str, Conversation], incoming: dict[str, Conversation]
) -> dict[str, Conversation]:
    merged = dict(latest)
    for key, conversation in incoming.items():
        mine = merged.get(key)
        if mine is None or len(conversation.turns) >= len(mine.turns):
            merged[key] = conversation
    return merged
