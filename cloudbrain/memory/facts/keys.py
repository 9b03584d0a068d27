"""Keys in one canonical form, so that the same slot typed two ways is still one slot."""

from __future__ import annotations

import re
import unicodedata

MAX_KEY_CHARS = 200  # the column holds 256; a key is a subject, never a paragraph

# British spelling wins, so "favorite color" and "favourite colour" are one slot.
SPELLING = {
    "favorite": "favourite",
    "favorites": "favourites",
    "fave": "favourite",
    "color": "colour",
    "colors": "colours",
    "flavor": "flavour",
    "flavors": "flavours",
    "humor": "humour",
    "neighbor": "neighbour",
    "neighborhood": "neighbourhood",
    "center": "centre",
    "theater": "theatre",
    "gray": "grey",
    "organization": "organisation",
}

_KEY_WORD = re.compile(r"[\w+#]+")
_POSSESSIVE = re.compile(r"'s\b")


def fold(text: str) -> str:
    """Accents off ("café" -> "cafe") and case folded, so keys match however they were typed.
    Letters with no ASCII base (e.g. CJK) are kept, so such keys are not empty."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalize_key(text: str) -> str:
    """A key's canonical form: folded, apostrophes dropped, punctuation to spaces (``+`` and
    ``#`` stay, for C++ and F#), spelling variants merged, spaces collapsed, length bounded."""
    # A possessive names the same slot as its noun: "user's favourite" is "user favourite".
    words = _KEY_WORD.findall(_POSSESSIVE.sub("", fold(text)).replace("'", ""))
    key = " ".join(SPELLING.get(w, w) for w in words)
    return key[:MAX_KEY_CHARS].rsplit(" ", 1)[0] if len(key) > MAX_KEY_CHARS else key
