"""Error codes and close codes of the wire protocol: the one list both sides share.

Every code here is documented in ``docs/protocol.md`` (a test keeps the two in step).
"""

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` frame."""

    INVALID_JSON = "invalid_json"  # the frame is not JSON text
    INVALID_FRAME = "invalid_frame"  # JSON, but a field is missing or has the wrong type
    UNKNOWN_TYPE = "unknown_type"  # the ``type`` is not one of protocol v1
    UNSUPPORTED_VERSION = "unsupported_version"  # ``v`` is not a version this server speaks
    HELLO_REQUIRED = "hello_required"  # the first frame of a connection must be ``hello``
    HELLO_TIMEOUT = "hello_timeout"  # no ``hello`` arrived in time
    AUTH_FAILED = "auth_failed"  # unknown agent name or wrong token
    REVOKED = "revoked"  # the agent's identity was revoked
    RATE_LIMITED = "rate_limited"  # too many frames too fast; the frame was not processed
    UNKNOWN_RECIPIENT = "unknown_recipient"  # no agent of that name
    DUPLICATE_ID = "duplicate_id"  # another sender already used this message id
    NOT_FOUND = "not_found"  # the message asked about does not exist or is not yours
    FORBIDDEN = "forbidden"  # allowed for other agents, not for this one (e.g. their memories)
    UNAVAILABLE = "unavailable"  # the database could not store the message: not accepted, resend
    BUSY = "busy"  # too many of this session's asks are still open; the ask was not started
    INTERNAL = "internal"  # a bug on the server; the connection stays open


class CloseCode(IntEnum):
    """WebSocket close codes the server uses. 1xxx are RFC 6455's; 4xxx are CloudBrain's."""

    NORMAL = 1000  # a client saying goodbye
    GOING_AWAY = 1001  # server shutting down: reconnect later
    POLICY = 1008  # kept flooding after rate_limited errors
    TOO_BIG = 1009  # frame above the size limit (sent by the websockets library)
    TRY_AGAIN_LATER = 1013  # the client reads too slowly; reconnect and replay
    AUTH_FAILED = 4001
    HELLO_REQUIRED = 4002  # first frame was not hello, or hello did not come in time
    UNSUPPORTED_VERSION = 4003
    REVOKED = 4004


# Close codes after which reconnecting with the same credentials cannot succeed.
FATAL_CLOSE_CODES = frozenset(
    {CloseCode.AUTH_FAILED, CloseCode.REVOKED, CloseCode.UNSUPPORTED_VERSION}
)


class CloudBrainError(Exception):
    """Base of the errors CloudBrain raises on purpose. ``hint`` says what to do next."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class ProtocolError(CloudBrainError):
    """The peer broke the protocol; ``code`` is what goes into the error frame."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
