"""What every benchmark's command line shares: progress lines for the person running it, on
stderr (``--json-only`` silences them, so that the JSON document is all there is), the options
for the run and for its PostgreSQL server, and how numbers are shown in the tables."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def progress(line: str) -> None:
    if not _quiet:
        print(line, file=sys.stderr, flush=True)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--max-seconds`` and ``--json-only``, as every long benchmark takes them."""
    parser.add_argument(
        "--max-seconds",
        type=_seconds,
        default=900.0,
        help="stop the run after this long and report what was measured (default: %(default)s)",
    )
    parser.add_argument(
        "--json-only",
        action="store_true",
        help="print only the JSON document (on stdout): no progress lines or tables on stderr",
    )


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def add_postgres_options(parser: argparse.ArgumentParser, *, optional: bool = True) -> None:
    """``--postgres URL`` (and, when PostgreSQL is optional, ``--no-postgres``)."""
    parser.add_argument(
        "--postgres",
        type=local_postgres,
        default=DEFAULT_POSTGRES,
        metavar="URL",
        help="PostgreSQL server to measure on: a fresh database is created there for each run "
        "and dropped after; the URL's database is only used to connect (default: %(default)s)",
    )
    if optional:
        parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")


def positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    return parse


def local_postgres(text: str) -> str:
    """Check a --db URL: PostgreSQL, on this machine (the benchmark talks to nothing else)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if url.get_backend_name() != "postgresql":
        raise argparse.ArgumentTypeError("expected a postgresql+asyncpg://... URL")
    if url.host not in (None, "", "127.0.0.1", "localhost", "::1"):
        raise argparse.ArgumentTypeError("the database must be on this machine (127.0.0.1)")
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def number(value: float | None, digits: int = 2) -> str:
    """A number for a table: ``digits`` decimals, or n/a."""
    return "n/a" if value is None else f"{value:.{digits}f}"
