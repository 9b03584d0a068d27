"""Every route of Familio's REST API, as its own OpenAPI document lists them, with path, query
and body values made up by hypothesis, sent over real HTTP to a real server on SQLite and
PostgreSQL: whatever comes in, the answer is no 5xx, and every refusal has the API's error
shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from cloudbrain.settings import Settings
from tests.test_fuzz_server import ThreadedServer, hostile_numbers, hostile_text, json_values

Route = tuple[str, str, list[tuple[str, str]], list[str]]  # method, path, params, body fields


def routes(openapi: dict[str, Any]) -> list[Route]:
    found = []
    for path, methods in openapi["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in methods.items():
            params = [(p["name"], p["in"]) for p in operation.get("parameters", [])]
            body: list[str] = []
            content = operation.get("requestBody", {}).get("content", {})
            if schema := content.get("application/json", {}).get("schema"):
                ref = schema.get("$ref", "").rsplit("/", 1)[-1]
                body = list(openapi["components"]["schemas"].get(ref, {}).get("properties", {}))
            found.append((method.upper(), path, params, body))
    return found


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[httpx.Client, list[Route]]]:
    async def token() -> str:
        engine = create_engine(settings.db_url)
        try:
            await create_agent(engine, "bob", skills=["python"])
            return (await create_agent(engine, "eve"))[1]
        finally:
            await engine.dispose()

    bearer = asyncio.run(token())
    with (
        ThreadedServer(settings) as server,
        httpx.Client(
            base_url=server.http_url, timeout=30, headers={"Authorization": f"Bearer {bearer}"}
        ) as http,
    ):
        yield http, routes(http.get("/openapi.json").json())


# Values that pass, often enough to reach what lies behind the checks, among hostile ones.
text_or_number = (
    st.sampled_from(["bob", "eve", "python", "1", "20", "true", "2026-11-30T10:00:00+00:00"])
    | hostile_text
    | hostile_numbers.map(str)
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_request_to_the_rest_api_gets_no_server_error(
    api: tuple[httpx.Client, list[Route]], data: st.DataObject
) -> None:
    http, known = api
    method, path, params, body_fields = data.draw(st.sampled_from(known))
    query = []
    for name, where in params:
        # A lone surrogate goes as the bytes UTF-8 would give it, which are no UTF-8 at all.
        value = quote(data.draw(text_or_number).encode(errors="surrogatepass"), safe="")
        if where == "path":
            path = path.replace(f"{{{name}}}", value).replace(f"{{{name}:path}}", value)
        elif where == "query" and data.draw(st.integers(0, 3)):
            query.append(f"{quote(name)}={value}")
    url = path + ("?" + "&".join(query) if query else "")
    body = {f: data.draw(json_values) for f in body_fields if data.draw(st.booleans())}
    response = http.request(
        method,
        url,
        content=json.dumps(body) if body_fields else None,  # \ud800 escapes, as JSON allows
        headers={"Content-Type": "application/json"},
    )
    event(f"{method} {response.status_code}")  # shown with --hypothesis-show-statistics
    assert response.status_code < 500, (method, url, body, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["detail"], response.text
