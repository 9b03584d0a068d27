"""One administrative statement (``CREATE DATABASE``, ``DROP DATABASE``) on a PostgreSQL
server, for the tests' databases and the benchmark's.

No pytest here, on purpose: ``bench`` uses this too and runs with the runtime dependencies alone.
"""

from __future__ import annotations


async def admin_execute(dsn: str, sql: str, *, timeout: float) -> None:
    """Run ``sql`` on its own connection to ``dsn`` (a plain ``postgresql://`` DSN), outside
    any transaction, as database-level statements need."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
