"""When an ask stops waiting for live answers, and whom it asks next: a state machine fed the
time from outside, so its deadlines and failovers are tested with a fake clock.

The live specialists routed first are asked at once. While none of those asked has answered
with knowledge, the next fallback is asked each time a share of the time passes, or at once
when everyone asked has answered without knowing. The wait ends when everyone asked has
answered and no fallback is still due, when the time is up, when ``enough`` answers that know
are in, or when the asker says to finish; whoever is still waiting then is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AskMachine:
    waiting: set[str]  # asked, not answered yet
    fallback: list[str]  # not asked yet, in the order to ask them
    until: float  # the deadline for live answers
    step: float  # the time each fallback waits its turn
    next_failover: float
    knew: bool = False  # someone asked live answered with knowledge
    failovers: list[str] = field(default_factory=list)  # fallbacks asked, in order
    enough: int | None = None  # finish once this many answers know (None: wait for all)
    known: int = 0  # answers that knew, live or from memories
    finished: bool = False  # the asker said to finish now

    @classmethod
    def start(
        cls,
        first: list[str],
        fallback: list[str],
        now: float,
        seconds: float,
        enough: int | None = None,
    ) -> AskMachine:
        """Those in ``first`` are asked now (the caller sends them the question)."""
        seconds = max(0.0, seconds)
        step = seconds / (len(fallback) + 1)
        return cls(set(first), list(fallback), now + seconds, step, now + step, enough=enough)

    def expects(self, name: str) -> bool:
        """Whether an answer from ``name`` is awaited (asked, not answered, not over)."""
        return name in self.waiting

    def answered(self, name: str, knows: bool) -> None:
        """``name``, asked live, answered."""
        self.waiting.discard(name)
        self.knew = self.knew or knows
        self.known += knows

    def answered_from_memories(self, knows: bool) -> None:
        """An AI not asked live answered from what it stored: it counts towards ``enough``,
        but does not stop the failover, which looks for someone live who knows."""
        self.known += knows

    def finish(self) -> None:
        """The asker takes the answers that are in: nobody else is waited for."""
        self.finished = True

    def advance(self, now: float) -> list[str]:
        """Who to ask now: the fallbacks whose turn has come (most often none)."""
        asked = []
        while not self.done(now) and self._failover_due(now):
            name = self.fallback.pop(0)
            self.waiting.add(name)
            self.failovers.append(name)
            asked.append(name)
            self.next_failover = now + self.step
        return asked

    def done(self, now: float) -> bool:
        return (
            now >= self.until
            or self.finished
            or (self.enough is not None and self.known >= self.enough)
            or not (self.waiting or self._failing_over)
        )

    def wake_at(self) -> float:
        """When :meth:`advance` next has something to do if no answer comes first."""
        return min(self.until, self.next_failover) if self._failing_over else self.until

    @property
    def missing(self) -> list[str]:
        """Those asked who did not answer (meaningful once done)."""
        return sorted(self.waiting)

    @property
    def _failing_over(self) -> bool:
        return bool(self.fallback) and not self.knew

    def _failover_due(self, now: float) -> bool:
        return self._failing_over and (now >= self.next_failover or not self.waiting)
