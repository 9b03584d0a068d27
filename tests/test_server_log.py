"""What the server says when it starts: the addresses it really listens on, and the URL
clients on the same machine use (they differ when it listens on every address)."""

from __future__ import annotations

import logging

import pytest

from cloudbrain.server import Server
from cloudbrain.settings import Settings


async def test_the_log_names_the_address_the_server_is_bound_to(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cloudbrain.server.app")
    on_every_address = settings.with_(host="0.0.0.0", http=False, smtp=False, allow_plaintext=True)
    async with Server(on_every_address) as server:
        port = server.port
    assert f"listening on 0.0.0.0:{port} " in caplog.text
    assert f"clients on this machine use ws://127.0.0.1:{port}" in caplog.text


async def test_the_log_names_the_address_the_web_view_is_bound_to(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cloudbrain.server.app")
    on_every_address = settings.with_(host="0.0.0.0", http=True, smtp=False, allow_plaintext=True)
    async with Server(on_every_address) as server:
        assert server.web is not None
        http_port = server.web.port
    assert f"web view, listening on 0.0.0.0:{http_port}; " in caplog.text
    assert f"on this machine http://127.0.0.1:{http_port}" in caplog.text
