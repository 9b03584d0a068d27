"""Facts from one exchange, by rule: what the user said about themselves, what they asked to be
remembered, and what a term means; plus the decision of what to do with a fact already known.

Rules rather than a model, because facts are written on every exchange: extraction has to be
cheap, deterministic and explainable, and it has to prefer missing a fact to inventing one (a
wrong "fact" is recalled with authority later). So every pattern is anchored and conservative,
and a fact is kept only when its subject and value look like what the pattern is about.

A fact has a *key*, the slot it fills ("user name", "user favourite editor", "user likes tea",
"definition kubernetes", "note deploy window"). Keys are what make memory tidy:

- a single-valued slot (name, favourite X, lives in, works at, works as, what is used for Y,
  a note's subject, a definition, a choice between two things) holds one current value, so a
  new value *supersedes* the old one, which stays as history;
- an additive preference ("I like X", "I hate X", "I prefer X", "I use X") puts its object in
  the key ("user likes tea"), so liking tea and liking coffee are two facts that never
  supersede each other; saying it again only counts it again.

Corrections are read as people say them ("Actually, the VPN port moved from 1194 to 443",
"... changed to 443", "... is now 443", "... is no longer 1194", "Correction: ..."): the new
value fills the slot the old one filled, and supersedes it. A correction that only sounds like
one ("actually, X is Y") is kept only over something known; a retraction ("no longer Y") only
over a fact that says Y. With a model at hand, its verdict (add, supersede, ignore) decides,
the rules being the fallback (see ``judgements``).

Everything here is pure: text in, plain data out, no I/O.
"""

from cloudbrain.memory.facts.decisions import (
    Decision,
    Ignore,
    New,
    Repeat,
    StoredFact,
    Supersede,
    decide,
)
from cloudbrain.memory.facts.extraction import asks_anything, extract_facts, states_anything
from cloudbrain.memory.facts.fact import Change, Fact
from cloudbrain.memory.facts.judgements import Event, Judged, choose, judge
from cloudbrain.memory.facts.keys import normalize_key
from cloudbrain.memory.facts.knowledge import is_knowledge

__all__ = [
    "Change",
    "Decision",
    "Event",
    "Fact",
    "Ignore",
    "Judged",
    "New",
    "Repeat",
    "StoredFact",
    "Supersede",
    "asks_anything",
    "choose",
    "decide",
    "extract_facts",
    "is_knowledge",
    "judge",
    "normalize_key",
    "states_anything",
]
