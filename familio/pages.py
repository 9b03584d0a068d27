"""Familio's web pages: the family, a profile, an AI's memories on a timeline, a session, the
asks, the graph, and the API reference. Rendered on the server from the same reads as the
REST API; the family page stays live through ``/events`` (server-sent presence changes)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, cast, get_args
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from cloudbrain.directory.search import matches
from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.familio import charts, graph
from cloudbrain.familio.app import Context, can_read, familio_of, here
from cloudbrain.familio.profile import social_profile
from cloudbrain.familio.reads import MAX_PAGE, memories_page, profile_of, sorted_family
from cloudbrain.familio.shown import answers_shown, segments, skills_of
from cloudbrain.ids import is_uuid
from cloudbrain.memory.records import Kind
from cloudbrain.memory.store import RecallFilter
from cloudbrain.memory.when import parse_when

PER_PAGE = 50
TIMELINE_MOST = 400  # memories drawn on a timeline: the newest of the filter
GRAPH_MOST = 150  # AIs drawn in the graph: the best connected
# The graph's boxes, in units of about a CSS pixel at the width the page gives them: a
# desktop's main column, and a phone's screen (familio.css switches between them). A phone
# scrolls down more readily than it shows small print, so its box is tall.
WIDE = (1100.0, 640.0)
NARROW = (360.0, 760.0)
KEEP_ALIVE = 15.0  # seconds between comments on an idle event stream


router = APIRouter(dependencies=[Depends(can_read)], include_in_schema=False)
Service = Annotated[Context, Depends(familio_of)]


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/openapi.json"))


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    familio = familio_of(request)
    response = familio.templates.TemplateResponse(request, template, context)
    if getattr(request.state, "login", None) is not None:
        # The page holds the login's form token and what only the login may read: no cache
        # on the way (a proxy) or in the browser keeps it for whoever comes next.
        response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    familio = familio_of(request)
    context = {"status": status, "detail": detail}
    return familio.templates.TemplateResponse(request, "error.html", context, status_code=status)


def when(text: str | None, field: str) -> datetime | None:
    """A time from a form field: 2h, 3d, yesterday, 2026-11-20 …; empty means none."""
    if not text:
        return None
    try:
        return parse_when(text)
    except Exception:
        raise ProtocolError(
            ErrorCode.INVALID_FRAME, f"{field}: {text!r} is not a time (try 2h, 3d or 2026-11-20)"
        ) from None


def pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


# --- the family ------------------------------------------------------------------------------


async def _family(familio: Context, shown: FamilyFilter) -> dict[str, Any]:
    skill, q, online, page = shown.skill, shown.q, shown.online, shown.page
    profiles = await familio.family.profiles()
    found = sorted_family(
        [p for p in profiles if matches(p, skill=skill or None, online=online, text=q or None)]
    )
    start = (page - 1) * PER_PAGE
    skills = sorted(
        {s for p in profiles for s in [*p.skills, *(x.topic for x in p.learned_skills)]}
    )
    return {
        "skills_of": skills_of,
        "agents": found[start : start + PER_PAGE],
        "total": len(found),
        "online_count": sum(p.online for p in profiles),
        "skills": skills,
        "skill": skill or "",
        "q": q or "",
        "online": online,
        "page": page,
        "pages": pages(len(found), PER_PAGE),
    }


@dataclass(frozen=True)
class FamilyFilter:
    """The family page's filters, from its query string."""

    skill: str | None = None
    q: str | None = None
    online: bool | None = None
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1


Filter = Annotated[FamilyFilter, Depends()]


@router.get("/", response_class=HTMLResponse)
async def family_page(request: Request, familio: Service, shown: Filter) -> HTMLResponse:
    context = await _family(familio, shown)
    return render(request, "family.html", **context, query=request.url.query)


@router.get("/rows", response_class=HTMLResponse)
async def family_rows(request: Request, familio: Service, shown: Filter) -> HTMLResponse:
    """The family table's rows alone: what the live page reloads."""
    context = await _family(familio, shown)
    response = render(request, "_family_rows.html", **context)
    response.headers["X-Online-Count"] = str(context["online_count"])
    return response


@router.get("/events")
async def events(familio: Service) -> StreamingResponse:
    """Presence changes as server-sent events, for live pages."""
    queue = familio.family.watch()

    async def stream() -> Any:
        stopping = asyncio.ensure_future(familio.stopping.wait())
        try:
            yield ": presence changes follow\n\n"
            while not familio.stopping.is_set():
                getting = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getting, stopping}, timeout=KEEP_ALIVE, return_when=asyncio.FIRST_COMPLETED
                )
                if getting not in done:
                    getting.cancel()
                    yield ": still here\n\n"
                    continue
                yield f"event: presence\ndata: {getting.result().to_json()}\n\n"
        finally:
            stopping.cancel()
            familio.family.unwatch(queue)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


# --- one AI ----------------------------------------------------------------------------------


@router.get("/agents/{name:path}", response_class=HTMLResponse)
async def profile_page(request: Request, name: str, familio: Service) -> HTMLResponse:
    profile = await profile_of(familio, name)
    social = await social_profile(familio.social, familio.reputation, name)
    sessions, session_total = await familio.activity.sessions(name, 20)
    palette = charts.colours(p.source for score in social.reputation for p in score.parts)
    return render(
        request,
        "profile.html",
        profile=profile,
        social=social,
        skills=skills_of(profile, social.endorsements),
        segments={score.skill: segments(score.parts, palette) for score in social.reputation},
        sessions=sessions,
        session_total=session_total,
        answers=await familio.activity.answers(name, 20),
        speeds=await familio.activity.speeds(name),
    )


@router.get("/memories", response_class=HTMLResponse)
async def memories_page_html(
    request: Request,
    familio: Service,
    name: Annotated[str | None, Query(alias="agent")] = None,
    q: str | None = None,
    since: str | None = None,
    until: str | None = None,
    device: str | None = None,
    kind: str | None = None,  # the form sends "" for any
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    if name is None:  # whose? the family page lists them, each with a link to its memories
        return RedirectResponse("/", status_code=303)
    profile = await profile_of(familio, name)
    if kind and kind not in get_args(Kind):
        raise ProtocolError(
            ErrorCode.INVALID_FRAME, f"kind: {kind!r} is not exchange, fact or note"
        )
    kind = cast(Kind, kind) if kind else None
    start, end = when(since, "since"), when(until, "until")
    found = await memories_page(
        familio, name, q or None, start, end, device or None, kind, page, PER_PAGE
    )
    where = RecallFilter(
        ai=name, since=start, until=end, device=device or None, kind=kind, include_superseded=True
    )
    drawn = found.items if q else await familio.memory.newest(where, TIMELINE_MOST)
    timeline = charts.timeline(
        [
            charts.Point(
                m.created_at,
                m.device,
                f"/sessions/{quote(m.session)}" if m.session else "",
                f"{m.created_at:%Y-%m-%d %H:%M} on {m.device or 'unknown'}: {m.content[:140]}",
            )
            for m in drawn
        ]
    )
    today = datetime.now(UTC).date()
    per_day = await familio.activity.answers_per_day(name, 30, today)
    speeds = await familio.activity.speeds(name)
    return render(
        request,
        "memories.html",
        profile=profile,
        memories=found.items,
        total=found.total,
        page=page,
        pages=pages(found.total, PER_PAGE),
        timeline=timeline,
        drawn=len(drawn),
        answers_per_day=charts.bars([(f"{d:%m-%d}", float(n)) for d, n in per_day]),
        answers_total=sum(n for _, n in per_day),
        speeds=speeds,
        speed_bars=charts.bars(
            [(f"{s.device} / {s.model}", s.tokens_per_second or 0.0) for s in speeds]
        ),
        latency_bars=charts.bars(
            [(f"{s.device} / {s.model}", s.seconds_per_answer or 0.0) for s in speeds],
            colour=charts.PALETTE[1],
        ),
        devices=await familio.activity.memory_devices(name),
        form={
            "q": q or "",
            "since": since or "",
            "until": until or "",
            "device": device or "",
            "kind": kind or "",
        },
    )


@router.get("/sessions/{session:path}", response_class=HTMLResponse)
async def session_page(request: Request, session: str, familio: Service) -> HTMLResponse:
    found = await familio.activity.session(session) if is_uuid(session) else None
    # Of a session of this server, only its agent's memories: a label is anyone's to write.
    memories = await familio.memory.newest(
        RecallFilter(
            ai=found.agent if found is not None else None,
            session=session,
            include_superseded=True,
        ),
        200,
    )
    if found is None and not memories:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no session {session!r} is known here")
    agent = found.agent if found is not None else memories[0].ai
    return render(
        request, "session.html", agent=agent, session=found, session_id=session, memories=memories
    )


# --- the family's asks and graph ----------------------------------------------------------------


@router.get("/asks", response_class=HTMLResponse)
async def asks_page(
    request: Request,
    familio: Service,
    asker: str | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> HTMLResponse:
    rows, total = await familio.activity.asks(20, (page - 1) * 20, asker=asker or None)
    return render(
        request,
        "asks.html",
        asks=rows,
        total=total,
        page=page,
        pages=pages(total, 20),
        asker=asker or "",
        answers_shown=answers_shown,
        back=here(request),
    )


@router.get("/asks/{ask}", response_class=HTMLResponse)
async def ask_page(request: Request, ask: str, familio: Service) -> HTMLResponse:
    rows, _ = await familio.activity.asks(1, ask_id=ask) if is_uuid(ask) else ([], 0)
    if not rows:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no ask with id {ask!r}")
    return render(
        request,
        "asks.html",
        asks=rows,
        total=1,
        page=1,
        pages=1,
        asker="",
        single=True,
        answers_shown=answers_shown,
        back=here(request),
    )


@router.get("/graph", response_class=HTMLResponse)
async def graph_page(request: Request, familio: Service) -> HTMLResponse:
    profiles = {p.name: p for p in await familio.family.profiles()}
    follows = [
        f for f in await familio.social.all_follows() if f[0] in profiles and f[1] in profiles
    ]
    endorsed = [
        (e.endorser, e.agent, e.skill)
        for e in await familio.social.endorsements()
        if e.endorser in profiles and e.agent in profiles
    ]
    degree: dict[str, int] = dict.fromkeys(profiles, 0)
    for a, b, *_ in [*follows, *endorsed]:
        degree[a] += 1
        degree[b] += 1
    shown = sorted(profiles, key=lambda n: (-degree[n], -profiles[n].reputation, n))[:GRAPH_MOST]
    keep = set(shown)
    drawn_follows = [f for f in follows if f[0] in keep and f[1] in keep]
    drawn_endorsed = [e for e in endorsed if e[0] in keep and e[1] in keep]
    reputation = {n: profiles[n].reputation for n in shown}
    online = {n for n in shown if profiles[n].online}
    # Drawn twice, for a wide screen and for a phone's (the page shows the one that fits):
    # one drawing scaled down to a phone would leave its labels too small to read. Laying a
    # large family out takes a moment of CPU, which the event loop should not wait through.
    wide, narrow = [
        await asyncio.to_thread(
            graph.graph, shown, drawn_follows, drawn_endorsed, reputation, online, *box
        )
        for box in (WIDE, NARROW)
    ]
    return render(
        request,
        "graph.html",
        wide=wide,
        narrow=narrow,
        # A phone shows the narrow drawing at its box's width: one grown much past that is
        # too small to read there, and the page says so.
        crowded=narrow.width > 1.5 * NARROW[0],
        ties=graph.ties(drawn_follows, drawn_endorsed),
        alone=sorted(keep - {n for link in [*drawn_follows, *drawn_endorsed] for n in link[:2]}),
        shown=len(shown),
        total=len(profiles),
        follows=len(follows),
        endorsements=len(endorsed),
    )


@router.get("/docs", response_class=HTMLResponse)
async def api_reference(request: Request) -> Response:
    """The REST API, from its OpenAPI document: Swagger UI draws it from /openapi.json
    (static/docs.js), and the operations are listed here too for a browser without script."""
    schema = request.app.openapi()
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    return render(request, "docs.html", info=schema["info"], operations=operations)


@router.get("/redoc")
async def redoc() -> RedirectResponse:
    """Where FastAPI apps keep their other reference: ours is /docs (ReDoc injects its styles
    as inline <style>, which the Content-Security-Policy refuses)."""
    return RedirectResponse("/docs", status_code=307)
