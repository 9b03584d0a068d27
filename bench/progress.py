"""Progress lines for the person running the benchmark, on stderr; ``--json-only`` silences
them so that the JSON document is all there is."""

from __future__ import annotations

import argparse
import sys

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
