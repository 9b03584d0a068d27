"""``bench.relay`` over TLS, shortest run: both servers (the raw relay and the hub, real
processes) listen for wss:// with the certificate made for the run, and their clients, trusting
its CA, get every message through."""

from __future__ import annotations

import json

import pytest

from bench.relay import main


def test_a_tls_run_delivers_through_both_servers(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--tls", "--modes", "roundtrip", "--duration", "1", "--json-only"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["parameters"]["tls"] is True
    for server in ("raw", "hub"):
        run = doc["results"][server]["roundtrip"]
        # A client that could not complete the handshake would count an error, or nothing.
        assert run["delivered"] > 0 and run["errors"] == 0 and run["undelivered"] == 0, server
