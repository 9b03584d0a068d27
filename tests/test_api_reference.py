"""The REST API's reference: an OpenAPI document with a schema and an example for every body and
every answer, its error bodies as the API sends them, and /docs drawing it in a real browser
(Debian's chromium) from this server's own files, within the Content-Security-Policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from cloudbrain.errors import ErrorCode
from cloudbrain.familio import api
from cloudbrain.familio.api_schema import ErrorBody
from cloudbrain.server import Server
from tests.browser import Tab, open_tab
from tests.conftest import AgentFactory

WAIT_MS = 15_000
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The reference reads no data: SQLite is enough."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloudbrain.db'}"


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        yield client


@pytest.fixture
async def tab(request: pytest.FixtureRequest) -> AsyncIterator[Tab]:
    async for opened in open_tab(request):
        yield opened


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if method in METHODS
    ]


def has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    return bool(
        "example" in media
        or media.get("examples")
        or resolve(document, media.get("schema", {})).get("examples")
    )


async def test_every_body_and_every_answer_has_a_schema_and_an_example(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/openapi.json")).json()
    found = operations(document)
    assert len(found) >= 20
    for method, path, operation in found:
        where = f"{method.upper()} {path}"
        body = operation.get("requestBody")
        if body is not None:
            media = body["content"]["application/json"]
            assert resolve(document, media["schema"]).get("properties"), where
            assert has_example(document, media), where
        ok = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert ok, where
        for status, response in ok.items():
            media = response["content"]["application/json"]
            assert media.get("schema") not in (None, {}), (where, status)
            assert has_example(document, media), (where, status)
        # Errors are documented as the API sends them, not as FastAPI's validation errors.
        for status in ("401", "403", "422"):
            error = operation["responses"][status]["content"]["application/json"]
            assert error["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (where, status)
        if "{" in path and method != "delete":  # stopping to follow anyone is no error
            assert "404" in operation["responses"], where
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["agent_token"]["scheme"] == "bearer"


async def test_the_examples_are_what_the_api_answers(http: httpx.AsyncClient) -> None:
    """Each example reads as its route's answer model, and each error example as the error body
    with a code of the protocol's list."""
    document = (await http.get("/openapi.json")).json()
    routes = {
        (method.lower(), route.path_format): route
        for route in api.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    for method, path, operation in operations(document):
        route = routes[(method, path)]
        example = operation["responses"]["200"]["content"]["application/json"]["example"]
        TypeAdapter(route.response_model).validate_python(example)
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                error = response["content"]["application/json"]["example"]
                assert ErrorBody.model_validate(error).error.code in set(ErrorCode), (path, status)


async def test_redoc_sends_the_browser_to_the_reference(http: httpx.AsyncClient) -> None:
    moved = await http.get("/redoc", headers={"Accept": "text/html"})
    assert moved.status_code == 307 and moved.headers["location"] == "/docs"
    page = await http.get("/redoc", headers={"Accept": "text/html"}, follow_redirects=True)
    assert page.status_code == 200 and 'id="swagger-ui"' in page.text


# Records, in each page, what its Content-Security-Policy blocked (as in test_familio_web.py).
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


async def test_the_reference_lists_every_operation_with_schemas_and_examples_in_a_browser(
    server: Server, make_agent: AgentFactory, tab: Tab, http: httpx.AsyncClient
) -> None:
    await make_agent("grace")
    _, ada = await make_agent("ada")
    document = (await http.get("/openapi.json")).json()
    page = tab.page
    await page.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    await page.goto(server.http_url + "/redoc")
    assert page.url == server.http_url + "/docs"
    # The site's own header stays, with its way back to the family.
    assert await page.locator("header nav a[href='/']").count() == 1
    await page.wait_for_selector(".opblock", timeout=WAIT_MS)
    assert await page.locator(".opblock").count() == len(operations(document))

    # An operation opened: its body's example, then its schema; its answers with theirs.
    endorse = page.locator(".opblock-post").filter(has_text="/api/endorsements")
    await endorse.locator(".opblock-summary").click()
    body = endorse.locator(".opblock-section-request-body")
    await body.get_by_text('"postgresql"').first.wait_for(timeout=WAIT_MS)
    assert '"grace"' in await body.inner_text()
    await body.get_by_role("tab", name="Schema").click()
    await body.get_by_text("EndorseBody").first.wait_for(timeout=WAIT_MS)
    answers = endorse.locator(".responses-wrapper")
    assert '"changed": true' in await answers.inner_text()
    assert "auth_failed" in await answers.inner_text()

    # With a token given to Authorize, Try it out sends the example and shows the answer.
    await page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    await dialog.get_by_label("auth-bearer-value").fill(ada)
    await dialog.get_by_role("button", name="Apply credentials").click()
    await dialog.get_by_role("button", name="Close").click()
    follow = page.locator(".opblock-post").filter(has_text="/api/follows")
    await follow.locator(".opblock-summary").click()
    await follow.get_by_role("button", name="Try it out").click()
    await follow.get_by_role("button", name="Execute").click()
    live = follow.locator(".live-responses-table")
    await live.get_by_text('"changed": true').wait_for(timeout=WAIT_MS)
    following = (await http.get("/api/following", params={"agent": "ada"})).json()
    assert [link["agent"] for link in following["items"]] == ["grace"]

    assert await page.evaluate("window.cspViolations") == []
    assert not [text for text in console if "Content Security Policy" in text]
    # Nothing came from another site: no CDN, no validator, no fonts.
    elsewhere = [url for url in requested if not url.startswith(server.http_url + "/")]
    assert elsewhere == []
    assert server.http_url + "/static/swagger-ui/swagger-ui-bundle.js" in requested
