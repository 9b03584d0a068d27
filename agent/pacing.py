"""How fast the client writes: a little under the rate the server allows."""

from __future__ import annotations

from cloudbrain.protocol import Limits
from cloudbrain.ratelimit import TokenBucket


def pace_within(limits: Limits) -> TokenBucket:
    """The client's own bucket for the limits in the server's welcome."""
    # Stay a little under the server's limits (its bucket also counted our hello), so
    # frames are never refused, and so never retried out of order.
    return TokenBucket(limits.rate_per_second * 0.9, max(1, int(limits.rate_burst * 0.9) - 1))
