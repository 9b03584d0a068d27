"""Headers every response of the web view carries, whatever made it: a page, the API, a static
file, the event stream or an error.

The pages load nothing from other sites and have no inline script or style, so the policy can
allow this server's own files and nothing else. Even if some text a user typed ever got into a
page unescaped, a browser would not run it; and no other site may show a page in a frame
(clickjacking) or learn its address with its query from the Referer.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(img_src: str = "'self'") -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {img_src}",
            "connect-src 'self'",  # live.js: fetch of /rows, EventSource of /events
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()

# The API reference (Swagger UI) draws its icons, such as the arrows of its menus and its copy
# buttons, as data: SVG in its stylesheet. An image runs no script and loads nothing, so that
# page alone may show images from data: URLs; script and style stay this server's files only.
DATA_IMAGE_PAGES = frozenset({"/docs"})
DATA_IMAGE_POLICY = content_security_policy("'self' data:")

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def security_headers(path: str) -> dict[str, str]:
    """The headers of a response to ``path``."""
    if path in DATA_IMAGE_PAGES:
        return {**SECURITY_HEADERS, "Content-Security-Policy": DATA_IMAGE_POLICY}
    return SECURITY_HEADERS


class SecurityHeaders:
    """ASGI middleware that adds :func:`security_headers` to every HTTP response.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, so the event stream is passed on
    as it is written instead of through another queue.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        added = security_headers(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
