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

Everything here is pure: text in, plain data out, no I/O.
"""

from cloudbrain.memory.facts.decisions import Decision, New, Repeat, StoredFact, Supersede, decide
from cloudbrain.memory.facts.extraction import extract_facts
from cloudbrain.memory.facts.fact import Fact
from cloudbrain.memory.facts.keys import normalize_key
from cloudbrain.memory.facts.knowledge import is_knowledge

__all__ = [
    "Decision",
    "Fact",
    "New",
    "Repeat",
    "StoredFact",
    "Supersede",
    "decide",
    "extract_facts",
    "is_knowledge",
    "normalize_key",
]
