"""Finding and removing duplicate mail in a Maildir.

Two mails are duplicates when mail-deduplicate gives them the same canonical header hash (Date,
From, To, Subject, Message-ID and a few more, normalised the way mail software rewrites them)
and their bodies hash the same too, so two different mails that happen to share headers are
both kept. In each group the oldest file is kept.
"""

from __future__ import annotations

import logging
import mailbox
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DedupeReport:
    mails: int = 0
    unreadable: list[str] = field(default_factory=list)  # keys whose headers cannot be hashed
    removed: list[str] = field(default_factory=list)  # keys of the duplicates (removed or not)


def find_duplicates(path: Path, *, remove: bool) -> DedupeReport:
    """Group the mail of the Maildir at ``path`` by content; with ``remove``, delete every
    copy but the oldest of each group."""
    from mail_deduplicate.cli import DEFAULT_HASH_HEADERS, DEFAULT_MINIMAL_HEADERS
    from mail_deduplicate.mail import TooFewHeaders
    from mail_deduplicate.mail_box import MaildirDedupMail

    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise FileNotFoundError(f"{path} is not a Maildir (it has no cur or new folder)")
    conf = {
        "hash_headers": DEFAULT_HASH_HEADERS,
        "minimal_headers": min(DEFAULT_MINIMAL_HEADERS, len(DEFAULT_HASH_HEADERS)),
    }
    box = mailbox.Maildir(path, factory=MaildirDedupMail, create=False)
    report = DedupeReport()
    groups: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for key in box.iterkeys():
        mail: Any = box.get_message(key)  # a MaildirDedupMail, which the stubs do not know
        mail.add_box_metadata(box, key)
        mail.conf = conf
        report.mails += 1
        logging.disable(logging.WARNING)  # the library logs each such mail's headers as a table
        try:
            digest = (mail.hash_key(), mail.hash_raw_body)
        except TooFewHeaders:
            report.unreadable.append(key)
            continue
        finally:
            logging.disable(logging.NOTSET)
        groups[digest].append((os.stat(mail.path).st_mtime_ns, key))
    for copies in groups.values():
        for _, key in sorted(copies)[1:]:
            report.removed.append(key)
            if remove:
                box.remove(key)
    return report
