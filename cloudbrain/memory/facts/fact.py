"""A fact: the slot it fills, the sentence to recall, the value that can change, who said it,
and how it was said: stated plainly, as a correction, or as a retraction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["user", "ai"]
# "state": said plainly; it is stored new, counted again, or supersedes what its key held.
# "amend": a correction of something known ("actually, the port is 443", "... is now 443",
#   "... changed to 443"):
#   kept only to replace a fact its key already holds, so chatter that merely sounds like a
#   correction ("actually, the weather is nice") adds nothing.
# "retract": "the port is no longer 1194": replaces only a known fact that says ``was``.
Change = Literal["state", "amend", "retract"]


@dataclass(frozen=True)
class Fact:
    key: str  # the normalized slot the fact fills: "user name", "definition kubernetes"
    text: str  # the fact as a sentence, ready to be recalled: "The user's name is Ada."
    value: str  # the part that can change between two facts with the same key: "Ada"
    source: Source  # who said it: the user's message or the AI's answer
    change: Change = "state"
    was: str = ""  # the old value, when the speaker named it ("moved from 1194 to 443": "1194")
