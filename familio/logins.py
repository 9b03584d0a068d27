"""People logged in to the web view: what a login cookie is, how long it lasts, and the form
token that goes with it.

A person logs in with an agent's token and from then on acts as that agent, for reads and
writes, through a cookie. The cookie's value is 256 random bits; the database keeps only its
SHA-256 (:mod:`cloudbrain.storage.web_logins`), so logout deletes the login for good and a copy
of the database logs no one in. Every lookup checks the agent too: revoking it ends its logins
at once.

A login ends after :data:`IDLE` without use, or :data:`LONGEST` after it was made, whichever
comes first; an agent keeps at most :data:`MOST_PER_AGENT` of them (a new one ends the least
recently used).

Every form that writes carries the login's form token, which is an HMAC of the cookie's value:
a page of another site can neither read the cookie (HttpOnly) nor work the token out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloudbrain.db.types import utcnow
from cloudbrain.storage.web_logins import Expired, WebLoginStore

IDLE = timedelta(hours=12)  # a working day's pause; the next morning asks for the token again
LONGEST = timedelta(days=7)  # whatever the use: a stolen cookie is good for a week at most
MOST_PER_AGENT = 10  # browsers logged in as one agent: a leaked token cannot fill the table
# Last use is written at most this often, so a page view is not a write each time; idle expiry
# is that much less exact.
TOUCH_EVERY = timedelta(minutes=5)

# What token_urlsafe(32) makes: 43 characters of the URL-safe alphabet. Anything else in a
# cookie is not ours, and is not looked up.
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Login:
    """A live login: the agent it acts as and the token its forms must carry."""

    agent: str
    form_token: str
    id_hash: str


def hash_cookie(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def form_token(value: str) -> str:
    """The form token of the login whose cookie holds ``value``: tied to that one login, and
    not to be worked out from the hash the database keeps."""
    return hmac.new(value.encode(), b"familio form token", hashlib.sha256).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def cookie_value(raw: str | None) -> str | None:
    """The cookie's value if it has the shape of one this server makes."""
    return raw if raw is not None and _COOKIE_VALUE.fullmatch(raw) else None


def expired_at(now: datetime) -> Expired:
    return Expired(made_before=now - LONGEST, unused_since=now - IDLE)


class Logins:
    def __init__(self, store: WebLoginStore) -> None:
        self.store = store

    async def start(self, agent: str) -> str | None:
        """A new login of ``agent``; the cookie's value, or None when the agent is not active."""
        value = secrets.token_urlsafe(32)
        now = utcnow()
        stored = await self.store.add(
            hash_cookie(value), agent, now, keep=MOST_PER_AGENT, expired=expired_at(now)
        )
        return value if stored else None

    async def find(self, raw: str | None) -> Login | None:
        """The live login a cookie stands for; None for no cookie, a cookie of no login, an
        expired login or a revoked agent's."""
        value = cookie_value(raw)
        if value is None:
            return None
        id_hash = hash_cookie(value)
        now = utcnow()
        found = await self.store.find(id_hash, expired_at(now))
        if found is None:
            return None
        if now - found.used_at >= TOUCH_EVERY:
            await self.store.used(id_hash, now)
        return Login(found.agent, form_token(value), id_hash)

    async def end(self, login: Login) -> None:
        await self.store.remove(login.id_hash)
