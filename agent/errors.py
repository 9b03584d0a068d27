"""Errors the client library raises."""

from cloudbrain.errors import CloudBrainError, ErrorCode


class ServerError(CloudBrainError):
    """The server answered a frame with an error frame."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}", hint=_HINTS.get(code, ""))
        self.code = code
        self.detail = detail


class AuthError(ServerError):
    """The server refused the credentials, or the agent was revoked. Reconnecting won't help."""


class CannotConnect(CloudBrainError):
    """No server answered at the URL."""


class ConnectionLost(CloudBrainError):
    """The connection dropped before the server answered a request that is not resent."""


class ClientClosed(CloudBrainError):
    """The client was closed while something was still waiting on it."""


class FrameTooLarge(CloudBrainError):
    """The frame is larger than the server accepts (see ``Welcome.limits``)."""


_HINTS: dict[str, str] = {
    ErrorCode.AUTH_FAILED: "check --name/--token (or CLOUDBRAIN_AGENT/CLOUDBRAIN_TOKEN); "
    "`cloudbrain agent list` shows who exists",
    ErrorCode.REVOKED: "this agent was revoked; create a new one with `cloudbrain agent create`",
    ErrorCode.UNKNOWN_RECIPIENT: "`cloudbrain who` lists the agents there are",
}
