"""Finding and removing duplicate mail in a Maildir.

Two mails are duplicates when mail-deduplicate gives them the same canonical header hash (Date,
From, To, Subject, Message-ID and a few more, normalised the way mail software rewrites them)
and their bodies hash the same too, so two different mails that happen to share headers are
both kept. In each group the oldest file is kept.

mail-deduplicate looks its normalisers up by the header's name in lower case (``normalize_date``,
``normalize_subject``, its set of address headers), so the names are given in lower case: in
their capitalised form nothing is normalised. One normaliser is ours: the library cuts Date to
its UTC day, which makes two mails without a Message-ID that differ only in time (a cron job's
reports, hours apart) one mail. Here Date counts to the second, in UTC: a copy whose Date was
rewritten into another time zone is the same instant and still matches.
"""

from __future__ import annotations

import logging
import mailbox
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    # Lower case, as the library's own command line passes them (see the module's docstring).
    hash_headers = tuple(dict.fromkeys(h.lower() for h in DEFAULT_HASH_HEADERS))
    conf = {
        "hash_headers": hash_headers,
        "minimal_headers": min(DEFAULT_MINIMAL_HEADERS, len(hash_headers)),
    }
    mail_class = type("DedupeMail", (MaildirDedupMail,), {"normalize_date": _date_to_the_second})
    box = mailbox.Maildir(path, factory=mail_class, create=False)
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


def _date_to_the_second(mail: Any, value: str) -> str:
    """Date as the UTC instant it names, to the second: the same for a copy re-zoned on the
    way, different for mails sent at other times (the library keeps only the day). A Date that
    cannot be read stays as it is."""
    if mail.parsed_date is None:
        return value
    return datetime.fromtimestamp(mail.parsed_date, tz=UTC).isoformat()
