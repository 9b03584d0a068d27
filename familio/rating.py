"""Rating an answer: one rule for the REST API and the web view's form."""

from __future__ import annotations

from typing import Literal

from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.familio.source import Family
from cloudbrain.ids import is_uuid

Verdict = Literal["up", "down", "accept"]


async def rate_answer(family: Family, ask: str, answer: str, rater: str, verdict: Verdict) -> None:
    """``rater`` rates an answer of an ask; ``not_found`` when the ask has no such answer (ids
    that are not ids are looked up nowhere)."""
    known = is_uuid(ask) and is_uuid(answer)
    if not known or not await family.rate(ask, answer, rater, verdict):
        raise ProtocolError(ErrorCode.NOT_FOUND, "that ask has no answer with that id")
