"""When the client tries to connect again, and when trying again cannot help."""

from __future__ import annotations

import random

from cloudbrain.agent.errors import AuthError, ServerError
from cloudbrain.errors import ErrorCode


def backoff_delay(attempt: int, max_backoff: float) -> float:
    """Seconds to wait before connecting again after ``attempt`` failures in a row: a random
    time up to a ceiling that doubles with each attempt, never over ``max_backoff``."""
    # Full jitter: a crowd of agents that lost the same server do not return in step.
    ceiling = min(max_backoff, 0.2 * 2 ** min(attempt, 10))
    return random.uniform(0, ceiling)


def refused_for_good(error: ServerError) -> bool:
    """Whether the server that refused our hello would refuse the same hello again: bad
    credentials, a revoked agent, a protocol version it does not speak."""
    return isinstance(error, AuthError) or error.code == ErrorCode.UNSUPPORTED_VERSION
