"""The protocol reference stays in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudbrain.errors import CloseCode, ErrorCode
from cloudbrain.protocol import CLIENT_TYPES, SERVER_TYPES

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_documented(code: ErrorCode) -> None:
    assert f"| `{code.value}` |" in PROTOCOL


def test_no_error_code_is_documented_that_does_not_exist() -> None:
    section = PROTOCOL.split("## 5.", 1)[1].split("## 6.", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    assert documented == {code.value for code in ErrorCode}


@pytest.mark.parametrize("code", list(CloseCode))
def test_every_close_code_is_documented(code: CloseCode) -> None:
    assert f"| {code.value} | `{code.name}` |" in PROTOCOL


@pytest.mark.parametrize("frame_type", sorted(CLIENT_TYPES | SERVER_TYPES))
def test_every_frame_type_has_a_section_and_an_example(frame_type: str) -> None:
    assert re.search(rf"^####? .*\b{frame_type}\b", PROTOCOL, re.MULTILINE), frame_type
    assert f'"type":"{frame_type}"' in PROTOCOL, frame_type
