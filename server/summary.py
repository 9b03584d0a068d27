"""Summaries of an ask's answers written by a model, when the server has one.

With ``CLOUDBRAIN_SUMMARIZER=ollama:MODEL[@URL]`` the server asks that model to consolidate the
best answers into a few sentences that name their sources. Without it, or when the model fails
or takes too long, the summary is extractive (:func:`cloudbrain.directory.aggregate.summarize`):
an ask never waits on, or fails because of, its summary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from cloudbrain.memory.embedding import DEFAULT_OLLAMA_URL
from cloudbrain.protocol import AskAnswer

log = logging.getLogger(__name__)

ANSWERS_SHOWN = 5
SUMMARY_SECONDS = 10.0  # at most, on top of the ask's own deadline
INSTRUCTIONS = (
    "You consolidate answers that several AI specialists gave to one question. Write at most "
    "three sentences that answer the question using only what the answers say. After each "
    "statement, name the specialist it came from in parentheses. If they disagree, say so. "
    "Do not add anything of your own."
)


class OllamaSummarizer:
    def __init__(self, model: str, url: str = DEFAULT_OLLAMA_URL) -> None:
        import ollama  # here, so a server without a summarizer never loads the HTTP client

        self.model = model
        self._client = ollama.AsyncClient(host=url, timeout=SUMMARY_SECONDS)

    @property
    def name(self) -> str:
        return f"ollama:{self.model}"

    async def summarize(self, question: str, answers: Sequence[AskAnswer]) -> str | None:
        """The model's summary, or None when it cannot give one (the caller falls back)."""
        shown = [a for a in answers if a.knows][:ANSWERS_SHOWN]
        if not shown:
            return None
        listing = "\n".join(
            f"{i}. {a.agent} ({a.source}, {a.device or 'unknown device'}): {a.text}"
            for i, a in enumerate(shown, start=1)
        )
        try:
            reply = await asyncio.wait_for(
                self._client.chat(
                    model=self.model,
                    messages=[
                        {"role": "system", "content": INSTRUCTIONS},
                        {"role": "user", "content": f"Question: {question}\n\nAnswers:\n{listing}"},
                    ],
                    options={"temperature": 0},
                ),
                SUMMARY_SECONDS,
            )
        except Exception as exc:  # the model is away, busy or broken: extractive it is
            log.warning("summary by %s failed, using an extractive one: %s", self.name, exc)
            return None
        text = (reply.message.content or "").strip()
        return text or None


def make_summarizer(spec: str) -> OllamaSummarizer | None:
    """The summarizer ``CLOUDBRAIN_SUMMARIZER`` names: "" (none, extractive summaries) or
    ``ollama:MODEL`` / ``ollama:MODEL@URL``. Anything else is a ValueError: a typo should stop
    the server, not quietly change its answers."""
    if not spec.strip():
        return None
    kind, _, rest = spec.strip().partition(":")
    model, _, url = rest.partition("@")
    if kind != "ollama" or not model:
        raise ValueError(f"unknown summarizer {spec!r}; use ollama:MODEL or ollama:MODEL@URL")
    return OllamaSummarizer(model, url or DEFAULT_OLLAMA_URL)
