"""The brain that thinks with a local model through Ollama, and still answers without one.

The question goes to Ollama's chat API with what the agent recalled (best first, within a
token budget) and the conversation so far. When Ollama is down, too slow, or lacks the model,
the recall brain answers instead and the answer says why, so the asker knows what they got.
The model also judges the facts of each message against what the agent knows (add, supersede,
ignore; see :mod:`judging`), before the message is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import httpx
import ollama

from cloudbrain.agent.brains.base import Answer, Brain
from cloudbrain.agent.brains.judging import FACTS_PROMPT, facts_request, labelled, parse_judged
from cloudbrain.agent.brains.recall import RecallBrain, attribution, quote, worth_quoting
from cloudbrain.brainstate import Conversation
from cloudbrain.memory.facts import Fact, Judged, StoredFact
from cloudbrain.memory.records import MemoryRecord

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:11434"
DEFAULT_MODEL = "llama3.2"
CHARS_PER_TOKEN = 4  # a rough, model-independent estimate, good enough for budgeting
SYSTEM = (
    "You are {name}, one of a family of AI agents that share a long-term memory. Answer the "
    "question briefly. Use the memories below when they are relevant and say when you are "
    "unsure; do not invent facts.\n\nMemories (most relevant first):\n{memories}"
)


class OllamaBrain:
    name = "ollama"

    def __init__(
        self,
        agent: str,
        *,
        url: str = DEFAULT_URL,
        model: str = DEFAULT_MODEL,
        timeout: float = 60.0,
        token_budget: int = 1500,
        fallback: Brain | None = None,
        api: Literal["chat", "generate"] = "chat",
    ) -> None:
        self.agent = agent
        self.url = url
        self.model = model
        self.token_budget = token_budget
        self.fallback = fallback or RecallBrain()
        self._client = ollama.AsyncClient(host=url, timeout=timeout)
        self._timeout = timeout
        self.api = api

    async def available(self) -> str | None:
        """None when Ollama answers and has the model; otherwise why not."""
        try:
            await self._client.show(self.model)
        except ollama.ResponseError as exc:
            return _why_not(exc, self)
        except (ConnectionError, httpx.HTTPError) as exc:
            return _why_not(exc, self)
        return None

    async def answer(
        self, question: str, memories: list[MemoryRecord], conversation: Conversation
    ) -> Answer:
        used = within_budget(worth_quoting(memories), self.token_budget)
        try:
            if self.api == "generate":
                return await self._generate(question, used, conversation)
            return await self._chat(question, used, conversation)
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            reason = _why_not(exc, self)
            log.warning("answering with recall instead: %s", reason)
            fallback = await self.fallback.answer(question, memories, conversation)
            return replace(fallback, fallback=reason)

    async def judge_facts(
        self, message: str, known: Sequence[StoredFact], found: Sequence[Fact] = ()
    ) -> list[Judged] | None:
        """The model's verdict on the facts of ``message`` against ``known`` (see
        :mod:`judging`); None on any trouble (a model that fails or rambles must not put errors
        into memory, and the rules decide then)."""
        labels = labelled(known)
        try:
            response = await self._client.chat(
                model=self.model,
                messages=[
                    {"role": "system", "content": FACTS_PROMPT},
                    {"role": "user", "content": facts_request(message, labels, found)},
                ],
                format="json",
            )
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            log.info("no verdict on facts from the model this time: %s", _why_not(exc, self))
            return None
        judged = parse_judged(response.message.content or "", labels)
        if judged is None:
            log.info("the model's verdict on facts was not the JSON asked for; rules decide")
        return judged

    async def _chat(
        self, question: str, used: list[MemoryRecord], conversation: Conversation
    ) -> Answer:
        messages = [{"role": "system", "content": system_prompt(self.agent, used)}]
        for asked, answered in conversation.turns:
            messages += [
                {"role": "user", "content": asked},
                {"role": "assistant", "content": answered},
            ]
        messages.append({"role": "user", "content": question})
        response = await self._client.chat(model=self.model, messages=messages)
        text = (response.message.content or "").strip()
        return Answer(
            text=text,
            model=response.model or self.model,
            used=used,
            knows=bool(text),
            tokens=response.eval_count,
            seconds=(response.eval_duration or 0) / 1e9 or None,
        )

    async def _generate(
        self, question: str, used: list[MemoryRecord], conversation: Conversation
    ) -> Answer:
        """Continue from the context tokens saved with the conversation when they came from
        this very model (same name, same digest); otherwise start over from the transcript."""
        digest = await self._digest()
        reuse = (
            conversation.context is not None
            and conversation.model == self.model
            and conversation.digest == digest
        )
        prompt = question
        if not reuse and conversation.turns:
            earlier = "\n".join(f"Q: {q}\nA: {a}" for q, a in conversation.turns)
            prompt = f"Earlier in this conversation:\n{earlier}\n\nQ: {question}"
        response = await self._client.generate(
            model=self.model,
            prompt=prompt,
            system=system_prompt(self.agent, used),
            context=conversation.context if reuse else None,
        )
        text = (response.response or "").strip()
        return Answer(
            text=text,
            model=self.model,
            used=used,
            knows=bool(text),
            tokens=response.eval_count,
            seconds=(response.eval_duration or 0) / 1e9 or None,
            context=list(response.context or []),
            digest=digest,
        )

    async def _digest(self) -> str | None:
        """The digest of the model now in Ollama: context tokens are valid for it alone. Asked
        each time, so a model pulled anew while the agent runs is noticed."""
        for model in (await self._client.list()).models:
            if model.model in (self.model, f"{self.model}:latest"):
                return model.digest
        return None


def within_budget(memories: list[MemoryRecord], token_budget: int) -> list[MemoryRecord]:
    """The best memories whose text fits in the budget, in the order given (best first)."""
    kept, spent = [], 0
    for memory in memories:
        cost = len(quote(memory)) // CHARS_PER_TOKEN + 1
        if spent + cost > token_budget:
            break
        kept.append(memory)
        spent += cost
    return kept


def system_prompt(agent: str, memories: list[MemoryRecord]) -> str:
    listed = "\n".join(f"- {quote(m)} ({attribution(m)})" for m in memories) or "- (none)"
    return SYSTEM.format(name=agent, memories=listed)


def _why_not(exc: BaseException, brain: OllamaBrain) -> str:
    if isinstance(exc, ollama.ResponseError) and exc.status_code == 404:
        return f"model {brain.model!r} is not in Ollama at {brain.url} (try `ollama pull {brain.model}`)"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"Ollama at {brain.url} did not answer within {brain._timeout:g}s"
    if isinstance(exc, ConnectionError | httpx.ConnectError):
        return f"Ollama is not reachable at {brain.url}"
    return f"Ollama failed: {exc}"
