"""A database that cannot be reached or used, said for a person: what is wrong, what to do."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from cloudbrain.errors import CloudBrainError

_MISSING = re.compile(r'database "([^"]+)" does not exist')


def database_trouble(url: str, error: BaseException) -> CloudBrainError | None:
    """The error to show for ``error`` met on the database at ``url``; None when it is not
    one of the ways a database setting goes wrong."""
    where = make_url(url)
    missing = _MISSING.search(str(error))
    if missing is not None:
        name = missing.group(1)
        return CloudBrainError(
            f'the database "{name}" does not exist on {where.host or "the server"}',
            hint=f"create it (createdb -h {where.host or 'localhost'} -U "
            f"{where.username or 'postgres'} {name}), then try again",
        )
    if isinstance(error, OSError) or (
        isinstance(error, DBAPIError) and "connect" in str(error).lower()
    ):
        return CloudBrainError(
            f"cannot reach the database at {where.render_as_string(hide_password=True)} "
            f"({str(error).splitlines()[0][:200]})",
            hint="is it running, and is --db (CLOUDBRAIN_DATABASE_URL) right?",
        )
    return None


@asynccontextmanager
async def explained(url: str) -> AsyncIterator[None]:
    """Inside: a database error with a known cause becomes a :class:`CloudBrainError`."""
    try:
        yield
    except (OSError, DBAPIError) as error:
        trouble = database_trouble(url, error)
        if trouble is None:
            raise
        raise trouble from error
