"""A fact: the slot it fills, the sentence to recall, the value that can change, who said it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["user", "ai"]


@dataclass(frozen=True)
class Fact:
    key: str  # the normalized slot the fact fills: "user name", "definition kubernetes"
    text: str  # the fact as a sentence, ready to be recalled: "The user's name is Ada."
    value: str  # the part that can change between two facts with the same key: "Ada"
    source: Source  # who said it: the user's message or the AI's answer
