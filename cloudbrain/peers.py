"""Where a connection comes from: what the server trusts a little more when it is this machine
(mail sent without AUTH, reads of the web view, clients of the original protocol)."""

from __future__ import annotations

import ipaddress
from typing import Any


def is_loopback(peer: Any) -> bool:
    """Whether ``peer`` (an address, or a socket's peer: ``(host, port, ...)``) is this
    machine."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        return isinstance(host, str) and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
