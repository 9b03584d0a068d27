"""Forms sent by the web view's pages, read where they enter: URL-encoded, within a byte
budget, each field once, valid UTF-8 without NUL, then checked against a model of its fields.

Starlette reads forms with python-multipart, which this project does not install; the pages
send only small URL-encoded forms, which the standard library reads."""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ValidationError

from cloudbrain.errors import ErrorCode, ProtocolError

FORM_BYTES = 16 * 1024  # the longest form (an endorsement's note) fits many times over
FORM_FIELDS = 20
URLENCODED = "application/x-www-form-urlencoded"
LONGEST_PATH = 2000  # characters of a page to come back to

M = TypeVar("M", bound=BaseModel)


async def form_of(request: Request) -> dict[str, str]:
    """The fields of a form; ``invalid_frame`` for anything else."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != URLENCODED:
        raise ProtocolError(ErrorCode.INVALID_FRAME, f"send the form as {URLENCODED}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            raise ProtocolError(
                ErrorCode.INVALID_FRAME, f"the form is longer than {FORM_BYTES} bytes"
            )
    try:
        pairs = parse_qsl(
            body.decode(), keep_blank_values=True, max_num_fields=FORM_FIELDS, errors="strict"
        )
    except ValueError:  # bad UTF-8, raw or percent-encoded, or too many fields
        raise ProtocolError(
            ErrorCode.INVALID_FRAME, f"the form is not UTF-8 text of {FORM_FIELDS} fields at most"
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise ProtocolError(ErrorCode.INVALID_FRAME, f"the form gives {name[:40]!r} twice")
        if "\x00" in name or "\x00" in value:
            raise ProtocolError(ErrorCode.INVALID_FRAME, "the form holds a NUL")
        fields[name] = value
    return fields


def parsed(model: type[M], fields: dict[str, str]) -> M:
    """``fields`` as ``model``; ``invalid_frame`` naming what is wrong."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ProtocolError(ErrorCode.INVALID_FRAME, problems) from None


def local_path(given: str | None, default: str = "/") -> str:
    """A page of this server to go to next: a path of this site, never another site
    (``//evil.example`` and ``/\\evil.example`` are other sites to a browser), or ``default``."""
    if (
        not given
        or len(given) > LONGEST_PATH
        or not given.startswith("/")
        or given.startswith(("//", "/\\"))
        or any(c < " " or c == "\x7f" or c == "\\" for c in given)
    ):
        return default
    return given
