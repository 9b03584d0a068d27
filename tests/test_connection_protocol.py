"""The per-connection state machine, without sockets."""

from __future__ import annotations

import json

from cloudbrain.errors import CloseCode, ErrorCode
from cloudbrain.ids import new_id
from cloudbrain.protocol import Hello, Ping
from cloudbrain.server.protocol import Accepted, ConnectionProtocol, Rejected, State

HELLO = Hello(id="h", name="alice", token="t").to_json()


def ping(i: int = 0) -> str:
    return Ping(id=f"p{i}").to_json()


def opened(rate: float = 100.0, burst: int = 10) -> ConnectionProtocol:
    protocol = ConnectionProtocol(rate_per_second=rate, rate_burst=burst)
    assert isinstance(protocol.receive(HELLO, 0.0), Accepted)
    protocol.authenticated()
    return protocol


def test_hello_then_open() -> None:
    protocol = ConnectionProtocol(rate_per_second=100, rate_burst=10)
    verdict = protocol.receive(HELLO, 0.0)
    assert isinstance(verdict, Accepted) and isinstance(verdict.frame, Hello)
    assert protocol.state is State.AUTHENTICATING
    # Nothing is processed while the token is being checked.
    assert isinstance(protocol.receive(ping(), 0.0), Rejected)
    protocol.authenticated()
    assert isinstance(protocol.receive(ping(), 0.0), Accepted)


def test_anything_but_hello_first_closes() -> None:
    protocol = ConnectionProtocol(rate_per_second=100, rate_burst=10)
    verdict = protocol.receive(ping(), 0.0)
    assert isinstance(verdict, Rejected)
    assert (verdict.error.code, verdict.close) == (
        ErrorCode.HELLO_REQUIRED,
        CloseCode.HELLO_REQUIRED,
    )
    assert protocol.state is State.CLOSED


def test_garbage_before_hello_closes_but_after_it_does_not() -> None:
    protocol = ConnectionProtocol(rate_per_second=100, rate_burst=10)
    verdict = protocol.receive("garbage", 0.0)
    assert isinstance(verdict, Rejected) and verdict.close == CloseCode.HELLO_REQUIRED
    protocol = opened()
    verdict = protocol.receive("garbage", 0.0)
    assert isinstance(verdict, Rejected) and verdict.close is None
    assert verdict.error.code == ErrorCode.INVALID_JSON


def test_errors_carry_the_id_of_the_frame_they_refuse() -> None:
    frame_id = new_id()
    verdict = opened().receive(json.dumps({"v": 1, "type": "send", "id": frame_id}), 0.0)
    assert isinstance(verdict, Rejected) and verdict.error.re == frame_id


def test_rate_limit_refuses_then_recovers_then_closes_a_flood() -> None:
    protocol = opened(rate=10, burst=5)  # hello used one token
    verdicts = [protocol.receive(ping(i), 1.0) for i in range(4)]
    assert all(isinstance(v, Accepted) for v in verdicts)
    refused = protocol.receive(ping(9), 1.0)
    assert isinstance(refused, Rejected) and refused.error.code == ErrorCode.RATE_LIMITED
    assert refused.log and refused.close is None and refused.error.re == "p9"
    again = protocol.receive(ping(10), 1.0)
    assert isinstance(again, Rejected) and not again.log  # logged once per flood
    assert isinstance(protocol.receive(ping(11), 1.2), Accepted)  # 0.2 s later: 2 new tokens
    for i in range(6):
        last = protocol.receive(ping(i), 1.2)
    assert isinstance(last, Rejected) and last.close == CloseCode.POLICY
    assert protocol.state is State.CLOSED
