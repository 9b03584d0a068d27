"""The frame parser: typed errors for anything, exact round trips for valid frames."""

from __future__ import annotations

import json
import uuid
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.ids import is_uuid, new_id
from cloudbrain.protocol import (
    CLIENT_TYPES,
    Ack,
    Deliver,
    Send,
    parse_client_frame,
    parse_server_frame,
)
from cloudbrain.protocol.base import CLIENT_FRAMES, SERVER_FRAMES
from cloudbrain.protocol.frames import unstorable

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_bytes_give_a_frame_or_a_protocol_error(data: bytes | str) -> None:
    try:
        parse_client_frame(data)
    except ProtocolError as exc:
        assert exc.code in set(ErrorCode) and exc.detail


@given(
    st.dictionaries(
        st.sampled_from(
            ["v", "type", "id", "to", "body", "ids", "topic", "name", "token", "ttl", "meta"]
        ),
        json_values | st.sampled_from(sorted(CLIENT_TYPES)),
        max_size=8,
    )
)
def test_any_json_object_gives_a_frame_or_a_protocol_error(obj: dict[str, object]) -> None:
    try:
        frame = parse_client_frame(json.dumps(obj))
    except ProtocolError as exc:
        assert exc.code in set(ErrorCode)
    else:
        assert frame.type in CLIENT_TYPES


@given(body=json_values, meta=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_send_frames_round_trip(body: Any, meta: dict[str, Any]) -> None:
    frame = Send(id=new_id(), to="bob", body=body, meta=meta)
    if unstorable([body, meta]):  # a NUL somewhere: refused on the way in, by design
        with pytest.raises(ProtocolError, match="NUL"):
            parse_client_frame(frame.to_json())
        return
    assert parse_client_frame(frame.to_json()) == frame


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_numbers_json_cannot_carry_are_refused_not_mangled(number: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Send(id=new_id(), to="bob", body={"x": [number]})


def test_deliver_serializes_its_sender_as_from() -> None:
    frame = Deliver(
        id=new_id(),
        kind="direct",
        sender="alice",
        session=new_id(),
        device="d",
        at="2026-11-22T00:00:00Z",
        body="hi",
    )
    data = json.loads(frame.to_json())
    assert data["from"] == "alice" and "sender" not in data
    assert parse_server_frame(frame.to_json()) == frame


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", ErrorCode.INVALID_JSON),
        ("null", ErrorCode.INVALID_FRAME),
        ('{"type": 5}', ErrorCode.INVALID_FRAME),
        ('{"v": "1", "type": "ping", "id": "p"}', ErrorCode.INVALID_FRAME),
        ('{"v": true, "type": "ping", "id": "p"}', ErrorCode.INVALID_FRAME),
        ('{"v": 2, "type": "ping", "id": "p"}', ErrorCode.UNSUPPORTED_VERSION),
        ('{"v": 1, "type": "ping", "id": ""}', ErrorCode.INVALID_FRAME),
        (
            '{"v": 1, "type": "send", "id": "01a2013b-67fb-73c7-94bb-0aefefcea138", "to": "b", "ttl": "5"}',
            ErrorCode.INVALID_FRAME,
        ),
        ('{"type": "deliver"}', ErrorCode.UNKNOWN_TYPE),
    ],
)
def test_error_codes(raw: str, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(raw)
    assert caught.value.code == code


def test_ack_is_bounded() -> None:
    with pytest.raises(ProtocolError):
        parse_client_frame(
            Ack(ids=[new_id()])
            .to_json()
            .replace("]", "," + ",".join(f'"{new_id()}"' for _ in range(1000)) + "]")
        )


def test_ids_are_uuid7_and_increase() -> None:
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(is_uuid(i) and i[14] == "7" for i in ids[:10])
    assert not is_uuid("not-a-uuid") and not is_uuid(ids[0][:-1])
    # Only the canonical form: a receipt's ``re`` must match the id exactly as it was sent.
    with pytest.raises(ProtocolError):
        parse_client_frame(Send(id=ids[0], to="bob").to_json().replace(ids[0], ids[0].upper()))


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model reachable from a type annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models(arg)]


def test_optional_fields_have_defaults_because_nulls_are_not_sent() -> None:
    """Frames leave out null fields, so a field that may be None must not be required, or the
    reader refuses the frame (this once broke a body of null and a first brain load)."""
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [*CLIENT_FRAMES.values(), *SERVER_FRAMES.values()]
    wrong = []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if field.is_required() and type(None) in get_args(field.annotation):
                wrong.append(f"{model.__name__}.{name}")
            todo += _models(field.annotation)
    assert not wrong, wrong
    assert len(seen) > 30


def _canonical(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


@given(
    st.uuids()
    .map(str)
    .flatmap(
        lambda u: st.sampled_from(
            [u, u.upper(), u.replace("-", ""), "{" + u + "}", u + "\n", u[:-1] + "g", u[:35]]
        )
    )
    | st.text(max_size=40)
)
def test_an_id_is_a_uuid_exactly_when_it_is_one_in_canonical_form(text: str) -> None:
    assert is_uuid(text) == _canonical(text)
