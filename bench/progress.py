"""Progress lines for the person running the benchmark, on stderr; ``--json-only`` silences
them so that the JSON document is all there is."""

from __future__ import annotations

import sys

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def progress(line: str) -> None:
    if not _quiet:
        print(line, file=sys.stderr, flush=True)
