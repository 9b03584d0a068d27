"""Files and folders CloudBrain keeps: readable by their owner only, never seen half-written,
and named so that no text from outside can point a path anywhere else.

Everything under ``$CLOUDBRAIN_HOME`` is somebody's: tokens, memories, mail. So folders are made
0700 and files 0600, set explicitly after creation, because ``mkdir`` and ``open`` honour the
umask and a umask of 002 or 000 would leave them open to others.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600

# The longest file name most file systems take (ext4, APFS, NTFS: 255 bytes).
NAME_MAX = 255
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+=-]")
_DIGEST_CHARS = 32  # of a SHA-256 in hex, ending a name that was too long to keep whole


def safe_name(name: str) -> str:
    """One path component for ``name`` (an agent, a device, a mail key).

    Anything but ASCII letters, digits and ``_.@+=-`` is %-escaped byte by byte (so ``/``,
    ``\\`` and NUL never appear), and a dot first is escaped (so it is never ``.``, ``..`` or a
    hidden file). Escaping is one-to-one, so two names never share a component. A name whose
    escaped form is longer than a file name may be is cut, and ends with ``~`` and a hash of
    the whole name (``~`` is always escaped, so a cut name cannot meet an uncut one).
    """
    if not name:
        raise ValueError("an empty name has no file name")
    escaped = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), name)
    if escaped.startswith("."):
        escaped = "%2E" + escaped[1:]
    if len(escaped) <= NAME_MAX:
        return escaped
    kept = escaped[: NAME_MAX - _DIGEST_CHARS - 1]
    cut = kept.rfind("%", len(kept) - 2)  # never end inside a %XX
    if cut != -1:
        kept = kept[:cut]
    return f"{kept}~{hashlib.sha256(name.encode()).hexdigest()[:_DIGEST_CHARS]}"


def private_folder(path: Path) -> Path:
    """Make the folder ``path`` and any missing parents, each 0700; folders already there are
    left as they are. Returns ``path``."""
    missing = []
    at = path
    while not at.is_dir():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_FOLDER)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made meanwhile by another process, which sets its mode too
        os.chmod(folder, PRIVATE_FOLDER)
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open`` that creates a missing file 0600, and makes an existing one 0600 too (a
    temporary file left by a crash, say). Returns the file descriptor."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def tighten(path: Path, mode: int) -> int | None:
    """Take away from ``path``, if it exists and is ours, every permission ``mode`` does not
    give. Returns the mode it had when it changed, else None."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    old = stat.S_IMODE(info.st_mode)
    if old & ~mode == 0 or info.st_uid != os.getuid():
        return None
    os.chmod(path, old & mode)
    return old


def private_home(home: Path, *, create: bool = True) -> None:
    """Make the data folder 0700, or tighten the one there is, saying so: it holds tokens,
    memories and mail. Without ``create``, a missing folder is left for whoever needs it
    (which makes it 0700 through :func:`private_folder`)."""
    if create:
        private_folder(home)
    old = tighten(home, PRIVATE_FOLDER)
    if old is not None:
        log.warning(
            "%s was open to other users (mode %03o); made it %03o, its owner's only, since it "
            "holds tokens, memories and mail",
            home,
            old,
            old & PRIVATE_FOLDER,
        )
        return
    try:
        info = home.stat()
    except FileNotFoundError:
        return
    if info.st_uid != os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        log.warning(
            "%s is open to other users (mode %03o) and belongs to someone else, so it stays "
            "so; its owner can run `chmod 700 %s`",
            home,
            stat.S_IMODE(info.st_mode),
            home,
        )


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a crash
    leaves the old content or the new, never half of either. The file is its owner's only
    (0600) from the moment it exists: what CloudBrain keeps (tokens, brain states, sync
    positions) is nobody else's business."""
    private_folder(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(tmp, path)
