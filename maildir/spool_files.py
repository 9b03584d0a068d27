"""The spool's file work, done in its helper process (see ``cloudbrain.server.spool``): write
the mail copy of each message kept for an agent that is away, and file the copies of messages
it acked. The helper is a fresh interpreter that imports this module and what it needs (the
Maildir folders, the mail mapping, the protocol), not the server: it starts in a third of a
second instead of two.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from pathlib import Path

from cloudbrain.maildir.folders import SENT, mark, put, safe_name
from cloudbrain.maildir.mapping import delivered_mail
from cloudbrain.protocol import Deliver


def serve(pipe: Connection) -> None:
    """The helper process: apply batches as they come, until the server's end of the pipe
    closes (at a clean stop, or because the server died)."""
    while True:
        try:
            root, domain, changes = pipe.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[bool, object] = (True, apply(root, domain, changes))
        except Exception as error:  # the server logs it; the helper takes the next batch
            reply = (False, f"{type(error).__name__}: {error}")
        try:
            pipe.send(reply)
        except OSError:
            return


# One change to the spool, for the agent named first: a message to keep (its deliver frame, as
# JSON) or the ids of messages it acked.
Change = tuple[str, str | list[str]]


def apply(root: Path, domain: str, changes: list[Change]) -> list[tuple[str, str, str]]:
    """Write kept copies and file acked ones, in order (in the helper process). Returns the
    copies that could not be made mail, as (recipient, message id, why), for the hub to log:
    one such message must not cost the others of its batch their copies."""
    refused = []
    for name, change in changes:
        mailbox = root / safe_name(name)
        if isinstance(change, str):
            message = Deliver.model_validate_json(change)
            try:
                mail = delivered_mail(message, name, domain).as_bytes()
            except Exception as error:
                refused.append((name, message.id, f"{type(error).__name__}: {error}"))
                continue
            # A message is kept once, when it is first stored: its name is new here.
            put(mailbox, message.id, mail)
        else:
            for message_id in change:
                mark(mailbox, message_id, SENT)
    return refused
