"""Small files that must never be seen half-written."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str, *, private: bool = False) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a crash
    leaves the old content or the new, never half of either. ``private`` makes the file
    readable by its owner only, from the moment it exists (for secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(tmp, path)
