"""Maildir folders as CloudBrain uses them: mail put in once under a chosen name, read in the
order it arrived, and moved to ``cur`` with flags when it is done.

Reading and listing go through the standard library's :class:`mailbox.Maildir`. Writing under
a chosen name (the unique part of a Maildir file name) is done here, in the Maildir way — the
file is written in ``tmp`` and renamed into ``new`` — because a chosen name is what makes a
second copy of the same mail impossible.
"""

from __future__ import annotations

import mailbox
import os
import socket
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from cloudbrain.files import open_private, private_folder
from cloudbrain.files import safe_name as safe_name

SENT, FLAGGED = "S", "F"  # Maildir flags: done; refused, for a person to look at


def open_folder(path: Path) -> mailbox.Maildir:
    """The Maildir at ``path``, created (tmp, new, cur; 0700, as mail is private) when missing."""
    for sub in ("tmp", "new", "cur"):
        private_folder(path / sub)
    return mailbox.Maildir(path, factory=None, create=False)


def put_once(path: Path, key: str, mail: EmailMessage | bytes, *, sync: bool = False) -> bool:
    """Deliver ``mail`` into ``path``/new under the name ``key``, unless a mail of that name is
    already there (in new or cur): True when it was written now. ``sync`` also flushes it to
    disk before it appears, for mail that was promised to someone."""
    if has_key(path, key):
        return False
    put(path, key, mail, sync=sync)
    return True


def put(path: Path, key: str, mail: EmailMessage | bytes, *, sync: bool = False) -> None:
    """Deliver ``mail`` into ``path``/new under the name ``key`` without looking for an earlier
    copy (which costs a look through ``cur``): for a name that cannot have been used yet. A
    copy still in ``new`` is replaced, so it is never there twice."""
    key = safe_name(key)
    open_folder(path)
    data = mail if isinstance(mail, bytes) else mail.as_bytes()
    tmp = path / "tmp" / f"{key}.{os.getpid()}.{socket.gethostname()}"
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as file:
        file.write(data)
        if sync:
            file.flush()
            os.fsync(file.fileno())
    os.replace(tmp, path / "new" / key)


def has_key(path: Path, key: str) -> bool:
    """Whether a mail named ``key`` is in new or cur (with any flags)."""
    key = safe_name(key)
    if (path / "new" / key).exists() or (path / "cur" / key).exists():
        return True
    cur = path / "cur"
    return cur.is_dir() and any(cur.glob(f"{key}:2,*"))


def waiting(path: Path) -> list[str]:
    """The keys of the mail in ``new``, oldest first (by when it arrived, then by name)."""
    new = path / "new"
    if not new.is_dir():
        return []
    entries = []
    for entry in os.scandir(new):
        if entry.is_file() and not entry.name.startswith("."):
            try:
                entries.append((entry.stat().st_mtime_ns, entry.name))
            except FileNotFoundError:  # taken meanwhile
                continue
    return [name for _, name in sorted(entries)]


def read(path: Path, key: str) -> bytes:
    """The raw content of the mail ``key`` in new (or cur)."""
    try:
        return (path / "new" / key).read_bytes()
    except FileNotFoundError:
        for found in (path / "cur").glob(f"{key}:2,*"):
            return found.read_bytes()
        raise


def mark(path: Path, key: str, flags: str) -> bool:
    """Move mail ``key`` from new to cur with ``flags`` (the Maildir way of saying "done"):
    True when it was in new."""
    source = path / "new" / key
    try:
        unique = key.split(":", 1)[0]
        os.replace(source, path / "cur" / f"{unique}:2,{''.join(sorted(set(flags)))}")
    except FileNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class Counts:
    new: int
    cur: int
    flagged: int  # in cur with the F flag: refused mail, for a person to look at


def counts(path: Path) -> Counts:
    def names(sub: str) -> list[str]:
        folder = path / sub
        return [n for n in os.listdir(folder) if not n.startswith(".")] if folder.is_dir() else []

    cur = names("cur")
    flagged = sum(1 for n in cur if FLAGGED in n.partition(":2,")[2])
    return Counts(new=len(names("new")), cur=len(cur), flagged=flagged)
