"""The fake Ollama server against the official ``ollama`` client, end to end: the replies,
streams and failures other tests rely on, seen the way production code sees them."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import httpx
import ollama
import pytest

from tests.fake_ollama import (
    CHAT_DIGEST,
    CHAT_MODEL,
    EMBED_DIGEST,
    EMBED_MODEL,
    EVAL_NS_PER_TOKEN,
    RUNNER_CRASH,
    FakeOllama,
)

QUESTION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is CloudBrain?"},
    {"role": "assistant", "content": "A message hub."},
    {"role": "user", "content": "And what else?"},
]
ECHO = "You said: And what else? [4 messages; system: Be brief.]"
ECHO_TOKENS = 10  # the words of ECHO, each a token


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def client(fake: FakeOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=fake.url, timeout=5) as client:
        yield client


def _norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (_norm(a) * _norm(b))


# -- chat -------------------------------------------------------------------------------------


def test_chat_answers_from_the_whole_conversation(fake: FakeOllama, client: ollama.Client) -> None:
    response = client.chat(model=CHAT_MODEL, messages=QUESTION)

    assert response.message.role == "assistant"
    assert response.message.content == ECHO
    assert response.model == CHAT_MODEL
    assert response.done is True
    assert response.done_reason == "stop"
    assert response.created_at is not None
    assert response.created_at.endswith("Z") and len(response.created_at) == 30  # nanoseconds
    body = fake.bodies("/api/chat")[0]
    assert body["messages"] == QUESTION
    assert body["stream"] is False


def test_chat_reports_deterministic_nonzero_timings(client: ollama.Client) -> None:
    first = client.chat(model=CHAT_MODEL, messages=QUESTION)
    second = client.chat(model=CHAT_MODEL, messages=QUESTION)

    assert first.eval_count == ECHO_TOKENS
    assert first.eval_duration == ECHO_TOKENS * EVAL_NS_PER_TOKEN
    assert first.prompt_eval_count and first.prompt_eval_count > 0
    assert first.prompt_eval_duration and first.prompt_eval_duration > 0
    assert first.load_duration and first.load_duration > 0
    assert first.total_duration and first.total_duration > ECHO_TOKENS * EVAL_NS_PER_TOKEN
    timings = ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration"]
    assert [first[k] for k in timings] == [second[k] for k in timings]


def test_chat_streams_a_token_a_line_then_the_totals(client: ollama.Client) -> None:
    parts = list(client.chat(model=CHAT_MODEL, messages=QUESTION, stream=True))

    assert len(parts) == ECHO_TOKENS + 1
    assert "".join(part.message.content or "" for part in parts) == ECHO
    assert [part.done for part in parts] == [False] * ECHO_TOKENS + [True]
    assert parts[0].message.content == "You"
    assert parts[0].eval_count is None  # totals come only at the end
    last = parts[-1]
    assert last.message.content == ""
    assert last.done_reason == "stop"
    assert last.eval_count == ECHO_TOKENS


async def test_async_client_chats_and_streams(fake: FakeOllama) -> None:
    async with ollama.AsyncClient(host=fake.url, timeout=5) as client:
        whole = await client.chat(model=CHAT_MODEL, messages=QUESTION)
        stream = await client.chat(model=CHAT_MODEL, messages=QUESTION, stream=True)
        streamed = "".join([part.message.content or "" async for part in stream])

    assert whole.message.content == ECHO
    assert streamed == ECHO


def test_scripted_replies_see_the_request(fake: FakeOllama, client: ollama.Client) -> None:
    fake.script(lambda body: f"{len(body['messages'])}: {body['messages'][-1]['content'].upper()}")
    assert client.chat(model=CHAT_MODEL, messages=QUESTION).message.content == "4: AND WHAT ELSE?"

    fake.script(lambda body: f"generated for {body['prompt']!r}")
    assert client.generate(model=CHAT_MODEL, prompt="hi").response == "generated for 'hi'"

    fake.script(None)
    assert client.chat(model=CHAT_MODEL, messages=QUESTION).message.content == ECHO


def test_non_ascii_text_round_trips(client: ollama.Client) -> None:
    response = client.chat(model=CHAT_MODEL, messages=[{"role": "user", "content": "Grüße ✓"}])
    assert response.message.content == "You said: Grüße ✓ [1 messages; system: none]"


def test_num_predict_cuts_the_reply(client: ollama.Client) -> None:
    response = client.chat(model=CHAT_MODEL, messages=QUESTION, options={"num_predict": 3})

    assert response.message.content == "You said: And"
    assert response.done_reason == "length"
    assert response.eval_count == 3


def test_no_messages_or_prompt_just_loads_the_model(client: ollama.Client) -> None:
    chat = client.chat(model=CHAT_MODEL, messages=[])
    assert (chat.done, chat.done_reason, chat.message.content) == (True, "load", "")
    generate = client.generate(model=CHAT_MODEL)
    assert (generate.done, generate.done_reason, generate.response) == (True, "load", "")


# -- generate ---------------------------------------------------------------------------------


def test_generate_continues_from_the_context_it_returned(
    fake: FakeOllama, client: ollama.Client
) -> None:
    first = client.generate(model=CHAT_MODEL, prompt="My name is Ada.")
    assert first.response == "You said: My name is Ada. [context: 0 tokens; system: none]"
    assert first.context

    second = client.generate(model=CHAT_MODEL, prompt="What is my name?", context=first.context)

    assert second.response == (
        f"You said: What is my name? [context: {len(first.context)} tokens; system: none]"
    )
    assert second.context
    assert list(second.context[: len(first.context)]) == list(first.context)
    assert fake.detokenize(second.context).startswith("My name is Ada. You said: My name is Ada.")
    assert "What is my name?" in fake.detokenize(second.context)


def test_a_context_is_honoured_only_by_the_model_that_made_it(
    fake: FakeOllama, client: ollama.Client
) -> None:
    fake.add_model("qwen2.5:0.5b")
    first = client.generate(model=CHAT_MODEL, prompt="My name is Ada.")
    assert first.context

    other = client.generate(model="qwen2.5:0.5b", prompt="What is my name?", context=first.context)

    assert other.response == "You said: What is my name? [context: 0 tokens; system: none]"
    assert other.context and "Ada" not in fake.detokenize(other.context)


def test_generate_streams_and_ends_with_the_context(client: ollama.Client) -> None:
    whole = client.generate(model=CHAT_MODEL, prompt="Hello there", system="Be kind.")
    parts = list(
        client.generate(model=CHAT_MODEL, prompt="Hello there", system="Be kind.", stream=True)
    )

    assert whole.response == "You said: Hello there [context: 0 tokens; system: Be kind.]"
    assert "".join(part.response or "" for part in parts) == whole.response
    assert all(part.context is None for part in parts[:-1])
    assert parts[-1].done is True
    assert parts[-1].context == whole.context


async def test_async_generate_continues_from_context(fake: FakeOllama) -> None:
    async with ollama.AsyncClient(host=fake.url, timeout=5) as client:
        first = await client.generate(model=CHAT_MODEL, prompt="Remember 42.")
        assert first.context
        second = await client.generate(model=CHAT_MODEL, prompt="Which?", context=first.context)

    assert (
        second.response == f"You said: Which? [context: {len(first.context)} tokens; system: none]"
    )


# -- embeddings -------------------------------------------------------------------------------


def test_embed_gives_deterministic_unit_vectors(client: ollama.Client) -> None:
    first = client.embed(model=EMBED_MODEL, input="The cat sat on the mat.")
    again = client.embed(model=EMBED_MODEL, input="The cat sat on the mat.")

    assert first.model == EMBED_MODEL
    assert len(first.embeddings) == 1
    assert len(first.embeddings[0]) == 64
    assert math.isclose(_norm(first.embeddings[0]), 1.0)
    assert first.embeddings == again.embeddings
    assert first.prompt_eval_count == 6


def test_embed_batch_keeps_order_and_puts_similar_texts_close(client: ollama.Client) -> None:
    texts = ["the cat sat on the mat", "the cat sat on a mat", "quarterly revenue grew fast"]

    batch = client.embed(model=EMBED_MODEL, input=texts).embeddings
    singles = [client.embed(model=EMBED_MODEL, input=text).embeddings[0] for text in texts]

    assert len(batch) == 3
    assert list(batch) == singles
    assert _cosine(batch[0], batch[1]) > 0.7
    assert abs(_cosine(batch[0], batch[2])) < 0.4


def test_embed_dimensions_truncates_and_renormalises(client: ollama.Client) -> None:
    short = client.embed(model=EMBED_MODEL, input="a few words", dimensions=16).embeddings[0]
    assert len(short) == 16
    assert math.isclose(_norm(short), 1.0)


def test_empty_input_gives_no_embeddings(client: ollama.Client) -> None:
    assert list(client.embed(model=EMBED_MODEL, input=[]).embeddings) == []


def test_the_older_embeddings_call_gives_the_same_vector(client: ollama.Client) -> None:
    old = client.embeddings(model=EMBED_MODEL, prompt="the cat")
    new = client.embed(model=EMBED_MODEL, input="the cat")
    assert list(old.embedding) == list(new.embeddings[0])


# -- models -----------------------------------------------------------------------------------


def test_list_shows_the_installed_models(fake: FakeOllama, client: ollama.Client) -> None:
    added = fake.add_model("qwen2.5:0.5b")

    models = client.list().models

    assert [m.model for m in models] == [CHAT_MODEL, "nomic-embed-text:latest", "qwen2.5:0.5b"]
    assert [m.digest for m in models] == [CHAT_DIGEST, EMBED_DIGEST, added.digest]
    chat = models[0]
    assert chat.details is not None
    assert (chat.details.family, chat.details.parameter_size) == ("llama", "1.2B")
    assert chat.size == 1_321_098_329
    assert chat.modified_at == datetime(2025, 1, 15, 9, 30, 0, 123456, tzinfo=UTC)
    # The client drops "name"; Ollama sends it, and other clients read it.
    assert httpx.get(f"{fake.url}/api/tags").json()["models"][0]["name"] == CHAT_MODEL


def test_show_describes_a_model(client: ollama.Client) -> None:
    chat = client.show(CHAT_MODEL)
    assert chat.details is not None and chat.details.family == "llama"
    assert chat.modelinfo is not None and chat.modelinfo["llama.context_length"] == 131_072
    assert chat.capabilities == ["completion", "tools"]
    assert chat.modelfile is not None and f"sha256-{CHAT_DIGEST}" in chat.modelfile
    assert chat.parameters is not None and '"<|eot_id|>"' in chat.parameters

    embed = client.show(EMBED_MODEL)
    assert embed.capabilities == ["embedding"]
    assert embed.modelinfo is not None and embed.modelinfo["nomic-bert.embedding_length"] == 64


def test_a_removed_model_is_gone(fake: FakeOllama, client: ollama.Client) -> None:
    fake.remove_model(CHAT_MODEL)
    assert [m.model for m in client.list().models] == ["nomic-embed-text:latest"]
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model=CHAT_MODEL, messages=QUESTION)
    assert raised.value.status_code == 404


NOT_FOUND = "model 'nope:7b' not found"
NOT_PULLED = 'model "nope:7b" not found, try pulling it first'
UNKNOWN_MODEL_CALLS: list[tuple[str, Callable[[ollama.Client], object], str]] = [
    ("chat", lambda c: c.chat(model="nope:7b", messages=QUESTION), NOT_FOUND),
    (
        "chat-stream",
        lambda c: list(c.chat(model="nope:7b", messages=QUESTION, stream=True)),
        NOT_FOUND,
    ),
    ("generate", lambda c: c.generate(model="nope:7b", prompt="hi"), NOT_FOUND),
    ("show", lambda c: c.show("nope:7b"), NOT_FOUND),
    ("embed", lambda c: c.embed(model="nope:7b", input="hi"), NOT_PULLED),
    ("embeddings", lambda c: c.embeddings(model="nope:7b", prompt="hi"), NOT_PULLED),
]


@pytest.mark.parametrize(
    ("call", "message"),
    [(call, message) for _, call, message in UNKNOWN_MODEL_CALLS],
    ids=[name for name, _, _ in UNKNOWN_MODEL_CALLS],
)
def test_an_unknown_model_is_a_404_with_ollamas_message(
    client: ollama.Client, call: Callable[[ollama.Client], object], message: str
) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        call(client)
    assert raised.value.status_code == 404
    assert raised.value.error == message


def test_an_embedding_model_cannot_chat_or_generate(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as chat:
        client.chat(model=EMBED_MODEL, messages=QUESTION)
    assert (chat.value.status_code, chat.value.error) == (
        400,
        '"nomic-embed-text" does not support chat',
    )
    with pytest.raises(ollama.ResponseError) as generate:
        client.generate(model=EMBED_MODEL, prompt="hi")
    assert generate.value.error == '"nomic-embed-text" does not support generate'


# -- failures ---------------------------------------------------------------------------------


def test_down_refuses_connections_until_up(fake: FakeOllama, client: ollama.Client) -> None:
    assert client.list().models  # leaves a kept-alive connection that down() must cut
    fake.down()

    with pytest.raises(ConnectionError) as raised:
        client.list()
    assert raised.type is ConnectionError  # the client's own, wrapping httpx.ConnectError
    with pytest.raises(httpx.ConnectError):  # streaming calls are not wrapped
        list(client.chat(model=CHAT_MODEL, messages=QUESTION, stream=True))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", fake.port), timeout=1).close()

    fake.up()
    assert client.list().models[0].model == CHAT_MODEL


async def test_async_client_sees_down_as_a_connection_error(fake: FakeOllama) -> None:
    async with ollama.AsyncClient(host=fake.url, timeout=5) as client:
        await client.list()
        fake.down()
        with pytest.raises(ConnectionError):
            await client.list()
        fake.up()
        assert len((await client.list()).models) == 2


async def test_down_cuts_a_request_in_flight(fake: FakeOllama) -> None:
    fake.delay = 5.0
    async with ollama.AsyncClient(host=fake.url, timeout=10) as client:
        waiting = asyncio.create_task(client.chat(model=CHAT_MODEL, messages=QUESTION))
        await asyncio.to_thread(fake.wait_for_requests, 1)
        started = time.monotonic()
        fake.down()
        with pytest.raises(httpx.RemoteProtocolError):  # not wrapped by the client either
            await waiting
    assert time.monotonic() - started < 2


def test_a_slow_server_trips_the_client_timeout(fake: FakeOllama) -> None:
    fake.delay = 3.0
    with ollama.Client(host=fake.url, timeout=0.2) as slow:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):  # not wrapped by the client
            slow.chat(model=CHAT_MODEL, messages=QUESTION)
        assert time.monotonic() - started < 2

        fake.delay = 0
        assert slow.chat(model=CHAT_MODEL, messages=QUESTION).message.content == ECHO


async def test_a_slow_server_trips_the_async_client_timeout(fake: FakeOllama) -> None:
    fake.delay = 3.0
    async with ollama.AsyncClient(host=fake.url, timeout=0.2) as slow:
        with pytest.raises(httpx.ReadTimeout):
            await slow.embed(model=EMBED_MODEL, input="x")


def test_fail_next_fails_that_many_requests_then_recovers(
    fake: FakeOllama, client: ollama.Client
) -> None:
    fake.fail_next(status=503, error="server busy", times=2)

    for _ in range(2):
        with pytest.raises(ollama.ResponseError) as raised:
            client.chat(model=CHAT_MODEL, messages=QUESTION)
        assert (raised.value.status_code, raised.value.error) == (503, "server busy")
    assert client.chat(model=CHAT_MODEL, messages=QUESTION).message.content == ECHO


def test_fail_next_defaults_to_a_runner_crash_even_when_streaming(
    fake: FakeOllama, client: ollama.Client
) -> None:
    fake.fail_next()
    with pytest.raises(ollama.ResponseError) as raised:
        list(client.chat(model=CHAT_MODEL, messages=QUESTION, stream=True))
    assert (raised.value.status_code, raised.value.error) == (500, RUNNER_CRASH)


# -- the fake itself --------------------------------------------------------------------------


def test_every_request_is_recorded(fake: FakeOllama, client: ollama.Client) -> None:
    fake.fail_next()
    with pytest.raises(ollama.ResponseError):
        client.list()
    client.embed(model=EMBED_MODEL, input=["a", "b"])

    assert [path for path, _ in fake.requests] == ["/api/tags", "/api/embed"]
    assert fake.requests[0][1] is None
    assert fake.bodies("/api/embed")[0]["input"] == ["a", "b"]


def test_plain_http_routes_answer_as_ollama_does(fake: FakeOllama) -> None:
    assert httpx.get(fake.url).text == "Ollama is running"
    missing = httpx.get(f"{fake.url}/api/nothing")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert httpx.get(f"{fake.url}/api/chat").status_code == 405
    empty = httpx.post(f"{fake.url}/api/chat")
    assert (empty.status_code, empty.json()) == (400, {"error": "missing request body"})


def test_streaming_is_the_default_when_stream_is_left_out(fake: FakeOllama) -> None:
    body = {"model": CHAT_MODEL, "messages": QUESTION}
    response = httpx.post(f"{fake.url}/api/chat", json=body)

    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == ECHO
    assert lines[-1]["done"] is True


def test_stop_then_start_again_on_the_same_port() -> None:
    fake = FakeOllama()
    with pytest.raises(RuntimeError):
        _ = fake.url
    with fake:
        url = fake.url
        assert fake.running
    assert not fake.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    with fake:
        assert fake.url == url
        assert httpx.get(url).text == "Ollama is running"
