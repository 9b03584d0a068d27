"""A token bucket: ``rate`` tokens per second, holding at most ``burst``.

The server limits each connection with one; the client library paces itself with another, set a
little below the limits the server announces, so it is never refused in normal use.
"""

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def reserve(self, now: float) -> float:
        """Take a token even if there is none yet; return the seconds to wait before using it.
        Callers that each wait out their reservation never exceed the rate together."""
        self._refill(now)
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def take(self, now: float) -> bool:
        """Spend one token if there is one; ``now`` is a monotonic time in seconds."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def _refill(self, now: float) -> None:
        if self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
