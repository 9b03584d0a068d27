"""The reply to a message: a model's own answer as it wrote it; otherwise an acknowledgement of
what the message taught, with the answer from memory only when the message also asked
something. Telling an agent a fact gets "Noted", a correction "Updated", never a quote of
what it knew before."""

from __future__ import annotations

from collections.abc import Sequence

from cloudbrain.agent.brains.base import Answer
from cloudbrain.agent.brains.recall import RecallBrain
from cloudbrain.agent.learning import Learned
from cloudbrain.memory.facts import New, Repeat, Supersede, is_knowledge


def model_wrote(answer: Answer) -> bool:
    """Whether the answer is a model's own words (knowledge to keep), not a quote of memory
    by the recall brain, a fallback, an error or an "I don't know"."""
    return answer.knows and answer.model != RecallBrain.name and is_knowledge(answer.text)


def acknowledgement(learned: Sequence[Learned]) -> str:
    """One line per fact kept: "Noted: ...", "Updated: ... (It replaces: ...)", "Already
    noted: ..."; "" when nothing was kept."""
    lines = []
    for item in learned:
        said = _plain(item.fact.text)
        if isinstance(item.decision, New):
            lines.append(f"Noted: {said}")
        elif isinstance(item.decision, Supersede):
            before = " ".join(_plain(t) for t in item.replaced)
            lines.append(f"Updated: {said}" + (f" (It replaces: {before})" if before else ""))
        elif isinstance(item.decision, Repeat):
            lines.append(f"Already noted: {said}")
        # an ignored fact left no trace, and is not mentioned
    return "\n".join(lines)


def reply_text(answer: Answer, learned: Sequence[Learned], *, asks: bool) -> str:
    """What to send back. A model's answer is its own (it was given the facts just learned);
    a quote from memory gives way to the acknowledgement unless the message asked something
    too, when it follows it."""
    said = acknowledgement(learned)
    if model_wrote(answer) or not said:
        text = answer.text
    elif asks and answer.knows:
        text = f"{said}\n{answer.text}"
    else:
        text = said
    if answer.fallback:
        text = f"({answer.fallback}; answering from memory only)\n{text}"
    return text


def _plain(text: str) -> str:
    """A fact as said back: "Remember: the port is 443." -> "The port is 443."."""
    text = text.removeprefix("Remember: ").strip()
    return text[:1].upper() + text[1:]
