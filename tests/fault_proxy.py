"""A TCP proxy to put between the server and PostgreSQL, to make the database misbehave the
ways networks do: away (every connection reset, new ones refused), paused (nothing moves for a
while, then everything does), or half-open (the connections there now go silent for good,
with no reset, while new ones work). Real sockets, real driver errors and timeouts."""

from __future__ import annotations

import asyncio
import contextlib


class _Link:
    """One proxied connection: its two writers, and whether it has gone silent."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.writers = (client, server)
        self.silent = False


class FaultProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.down = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        self.restore()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """The database is away: every connection through the proxy is reset, and new ones
        are closed as soon as they open, until :meth:`restore`."""
        self.down = True
        for link in list(self._links):
            for writer in link.writers:
                writer.transport.abort()
        self._links.clear()

    def restore(self) -> None:
        self.down = False
        self._flowing.set()

    def pause(self) -> None:
        """Nothing moves on any connection until :meth:`restore`; nothing is lost either."""
        self._flowing.clear()

    def half_open(self) -> None:
        """The connections open now go silent for good: what is sent on them is dropped, and
        no reset tells either end. Connections made afterwards work."""
        for link in self._links:
            link.silent = True

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        if self.down:
            client_out.transport.abort()
            return
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
        except OSError:
            client_out.transport.abort()
            return
        link = _Link(client_out, server_out)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pipe(link, client_in, server_out), self._pipe(link, server_in, client_out)
            )
        finally:
            self._links.discard(link)

    async def _pipe(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                if link.silent:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()


async def postgres_through(proxy_of: str) -> tuple[FaultProxy, str]:
    """A started proxy in front of the PostgreSQL of the URL ``proxy_of``, and the URL that
    goes through it, with a short command timeout so a silent connection is given up soon
    (see cloudbrain.db.engine)."""
    from sqlalchemy.engine import make_url

    url = make_url(proxy_of)
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    through = url.set(port=port).update_query_dict({"command_timeout": "3"})
    return proxy, through.render_as_string(hide_password=False)
