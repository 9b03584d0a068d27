"""A message as an agent receives it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudbrain.protocol import Deliver


@dataclass(frozen=True)
class Message:
    id: str
    kind: str  # direct | topic | broadcast
    sender: str
    session: str  # the sender's session
    device: str  # the sender's device
    at: datetime  # when the server accepted it
    body: Any
    meta: dict[str, Any]
    to: str | None = None
    topic: str | None = None
    conversation: str | None = None
    reply_to: str | None = None
    expires_at: datetime | None = None

    @classmethod
    def from_frame(cls, frame: Deliver) -> Message:
        return cls(
            id=frame.id,
            kind=frame.kind,
            sender=frame.sender,
            session=frame.session,
            device=frame.device,
            at=frame.at,
            body=frame.body,
            meta=dict(frame.meta),
            to=frame.to,
            topic=frame.topic,
            conversation=frame.conversation,
            reply_to=frame.reply_to,
            expires_at=frame.expires_at,
        )

    @property
    def text(self) -> str:
        """The body as text: itself if it is a string, else its JSON."""
        if isinstance(self.body, str):
            return self.body
        import json

        return json.dumps(self.body, ensure_ascii=False)
