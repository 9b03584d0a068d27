"""Time-ordered ids (UUIDv7, RFC 9562).

Ids sort by creation time, so they index well and replay in order. Python gains
``uuid.uuid7`` only in 3.14; until then this short version is ours.
"""

import os
import re
import threading
import time
import uuid
from collections.abc import Iterable

from cloudbrain.errors import CloudBrainError

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """Return a new UUIDv7 as a string. Ids made in one process are strictly increasing."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _counter = ms, int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:
            # Same millisecond (or the clock stepped back): keep order with the 12-bit counter,
            # borrowing the next millisecond when it runs out.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms, _counter = _last_ms + 1, 0
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (_last_ms << 80) | (0x7 << 76) | (_counter << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


# The canonical form, as str(uuid.UUID(...)) writes it. Checked for every id of every frame (an
# ack carries up to 1,000): a pattern is ten times faster than parsing and printing a UUID.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def short_id(value: str) -> str:
    """A label for an id, for people: a UUID's last 8 hex digits. A UUIDv7 begins with its
    time, so its first 8 are the same for every id made within about a minute; the last are
    random. Anything else (an imported session name, say) is cut to its first 8."""
    if _CANONICAL_UUID.fullmatch(value):
        return value[-8:]
    return value[:8]


def uuid_as_given(text: str) -> str:
    """A UUID as people may paste it (upper case, without dashes, in braces) in its one
    canonical spelling; anything else unchanged, for the protocol to refuse with its reason."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return text


def is_uuid(text: str) -> bool:
    """True when ``text`` is a UUID in its canonical form: 36 characters, lower case."""
    return _CANONICAL_UUID.fullmatch(text) is not None


class UnknownId(CloudBrainError):
    """A shortened id that matches no id, or more than one."""


def match_id(given: str, ids: Iterable[str], what: str) -> str:
    """The one id of ``ids`` that ``given`` names: the whole id, or any start or end of it
    (the short label people see is its end), in either case and with or without dashes."""
    wanted = given.strip().lower().replace("-", "")
    found = (
        []
        if not wanted
        else [
            i
            for i in dict.fromkeys(ids)
            if i.replace("-", "").startswith(wanted) or i.replace("-", "").endswith(wanted)
        ]
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise UnknownId(
            f"no {what} has an id like {given[:40]!r}",
            hint=f"give the {what}'s id, or the end of it that lists show",
        )
    raise UnknownId(
        f"{given!r} matches {len(found)} {what}s ({', '.join(short_id(i) for i in found[:5])})",
        hint="give more of the id",
    )
