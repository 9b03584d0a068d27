"""Context's REST API, under ``/api``. Collections are filtered by query parameters (AI names
may hold a ``/``, so they are never a path segment except at the end). Lists come a page at a time (``page``, ``per_page``,
with ``total``); errors have one body, ``{"error": {"code", "detail"}}``, with the codes of the
wire protocol; writes act as the agent whose token comes as ``Authorization: Bearer`` (or, from a
browser logged in at ``/login``, as its login's agent, with the login's ``X-CSRF-Token``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, JsonValue

from cloudbrain.directory.search import matches
from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.familio import api_schema as schema
from cloudbrain.familio.api_schema import (
    AgentDetail,
    Changed,
    EndorseBody,
    FollowBody,
    Graph,
    Presence,
    RateBody,
    SkillInfo,
    answers,
)
from cloudbrain.familio.app import Context, can_read, familio_of
from cloudbrain.familio.profile import social_profile
from cloudbrain.familio.rating import rate_answer
from cloudbrain.familio.reads import (
    MAX_PAGE,
    Page,
    memories_page,
    page_of,
    profile_of,
    sorted_family,
)
from cloudbrain.familio.social import stored_skill
from cloudbrain.ids import is_uuid
from cloudbrain.memory.records import Kind, MemoryRecord
from cloudbrain.protocol import (
    MAX_INTEGER,
    AgentInfo,
    EndorsementInfo,
    Link,
    ReputationInfo,
    SocialEvent,
)
from cloudbrain.storage.activity import AskRow, SessionRow

# The token every route takes (reads need one only where the server's owner says so): declared
# here so that the OpenAPI document names it and the reference at /docs can send one. Access
# reads the header itself, with the login cookie as the browser's other way in.
BEARER = HTTPBearer(
    scheme_name="agent_token",
    bearerFormat="cb_…",
    description="An agent's token, as `cloudbrain agent create NAME` prints it.",
    auto_error=False,
)


async def acting_agent(request: Request) -> str:
    return await familio_of(request).access.agent(request)


async def token(
    _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> None:
    """Documents the bearer token on every route; Access checks it."""


router = APIRouter(
    prefix="/api",
    dependencies=[Depends(can_read), Depends(token)],
    tags=["familio"],
    responses=schema.EVERY_ROUTE,
)
Writer = Annotated[str, Depends(acting_agent)]
Service = Annotated[Context, Depends(familio_of)]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1 is the first page.")]
PerPage = Annotated[int, Query(ge=1, le=200, description="Items per page, up to 200.")]
AgentParam = Annotated[str, Query(alias="agent", description="The AI's name.")]
Since = Annotated[
    AwareDatetime | None, Query(description="From this time (ISO 8601, with a time zone).")
]
Until = Annotated[
    AwareDatetime | None, Query(description="Up to this time (ISO 8601, with a time zone).")
]


# --- the family ------------------------------------------------------------------------------


@router.get(
    "/agents", summary="The family: every AI, with filters", responses=answers(schema.AGENTS)
)
async def list_agents(
    familio: Service,
    skill: Annotated[str | None, Query(description="Declared or learned.")] = None,
    online: bool | None = None,
    q: Annotated[str | None, Query(description="In the name, description or skills.")] = None,
    page: PageNumber = 1,
    per_page: PerPage = 50,
) -> Page[AgentInfo]:
    found = [
        p for p in await familio.family.profiles() if matches(p, skill=skill, online=online, text=q)
    ]
    return page_of(sorted_family(found), page, per_page)


@router.get(
    "/agents/{name:path}",
    summary="An AI's directory profile and social profile",
    responses=answers(schema.DETAIL, not_found=True),
)
async def get_agent(name: str, familio: Service) -> AgentDetail:
    return AgentDetail(
        profile=await profile_of(familio, name),
        social=await social_profile(familio.social, familio.reputation, name),
    )


@router.get(
    "/cards/{name:path}",
    summary="An AI's agent card (A2A-style)",
    responses=answers(schema.CARD, not_found=True),
)
async def get_card(name: str, familio: Service) -> dict[str, JsonValue]:
    card = await familio.family.card(name)
    if card is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no agent named {name!r}")
    return card


@router.get(
    "/followers", summary="Who follows an AI", responses=answers(schema.LINKS, not_found=True)
)
async def get_followers(
    name: AgentParam, familio: Service, page: PageNumber = 1, per_page: PerPage = 50
) -> Page[Link]:
    await familio.social.check_agent(name)
    return page_of(await familio.social.followers(name), page, per_page)


@router.get(
    "/following", summary="Whom an AI follows", responses=answers(schema.LINKS, not_found=True)
)
async def get_following(
    name: AgentParam, familio: Service, page: PageNumber = 1, per_page: PerPage = 50
) -> Page[Link]:
    await familio.social.check_agent(name)
    return page_of(await familio.social.following(name), page, per_page)


@router.get(
    "/endorsements",
    summary="Endorsements as they stand, newest first",
    responses=answers(schema.ENDORSEMENTS),
)
async def get_endorsements(
    familio: Service,
    agent: Annotated[str | None, Query(description="Received by this AI.")] = None,
    endorser: Annotated[str | None, Query(description="Given by this AI.")] = None,
    skill: str | None = None,
    page: PageNumber = 1,
    per_page: PerPage = 50,
) -> Page[EndorsementInfo]:
    if skill is not None:
        skill = stored_skill(skill)
    found = await familio.social.endorsements(of=agent, by=endorser, skill=skill)
    return page_of(found, page, per_page)


@router.get(
    "/reputation",
    summary="An AI's reputation, overall and per skill, with its parts",
    responses=answers([schema.REPUTATION], not_found=True),
)
async def get_reputation(name: AgentParam, familio: Service) -> list[ReputationInfo]:
    await familio.social.check_agent(name)
    return await familio.reputation.of(name)


@router.get(
    "/events",
    summary="Social events (follows, endorsements, trust), newest first",
    responses=answers([schema.EVENT_ROW]),
)
async def get_history(
    familio: Service,
    agent: Annotated[str | None, Query(description="By or about this AI.")] = None,
    before: Annotated[
        int | None, Query(ge=0, le=MAX_INTEGER, description="Events before this seq.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[SocialEvent]:
    return await familio.social.history(agent, limit=limit, before=before)


@router.get(
    "/sessions",
    summary="An AI's sessions, newest first: device, start, end",
    responses=answers(schema.SESSIONS, not_found=True),
)
async def get_sessions(
    name: AgentParam, familio: Service, page: PageNumber = 1, per_page: PerPage = 50
) -> Page[SessionRow]:
    await familio.social.check_agent(name)
    rows, total = await familio.activity.sessions(name, per_page, (page - 1) * per_page)
    return Page(items=rows, page=page, per_page=per_page, total=total)


@router.get(
    "/memories",
    summary="An AI's memories, newest first, or the best matches of a search",
    responses=answers(schema.MEMORIES, not_found=True),
)
async def get_memories(
    name: AgentParam,
    familio: Service,
    q: Annotated[str | None, Query(description="Words or meaning to search for.")] = None,
    since: Since = None,
    until: Until = None,
    device: str | None = None,
    kind: Kind | None = None,
    page: PageNumber = 1,
    per_page: PerPage = 50,
) -> Page[MemoryRecord]:
    await familio.social.check_agent(name)
    return await memories_page(familio, name, q, since, until, device, kind, page, per_page)


# --- skills, presence, the graph -------------------------------------------------------------


@router.get(
    "/skills",
    summary="Every skill in the family: who declared, learned or was endorsed for it",
    responses=answers(schema.SKILLS),
)
async def list_skills(familio: Service) -> list[SkillInfo]:
    found: dict[str, SkillInfo] = {}

    def skill(name: str) -> SkillInfo:
        return found.setdefault(name, SkillInfo(skill=name))

    for profile in await familio.family.profiles():
        for declared in profile.skills:
            skill(declared).declared_by.append(profile.name)
        for learned in profile.learned_skills:
            skill(learned.topic).learned_by.append(profile.name)
    for endorsement in await familio.social.endorsements():
        endorsed = skill(endorsement.skill).endorsed
        if endorsement.agent not in endorsed:
            endorsed.append(endorsement.agent)
    return [found[k] for k in sorted(found)]


@router.get(
    "/presence",
    summary="Who is online now, with their sessions",
    responses=answers(schema.PRESENCE),
)
async def get_presence(familio: Service) -> list[Presence]:
    return [
        Presence(agent=p.name, sessions=[s.model_dump(mode="json") for s in p.sessions])
        for p in await familio.family.profiles()
        if p.online
    ]


@router.get("/graph", summary="The follow and endorse graph", responses=answers(schema.GRAPH))
async def get_graph(familio: Service) -> Graph:
    return Graph(
        agents=sorted(p.name for p in await familio.family.profiles()),
        follows=await familio.social.all_follows(),
        endorsements=[(e.endorser, e.agent, e.skill) for e in await familio.social.endorsements()],
    )


# --- asks --------------------------------------------------------------------------------------


@router.get(
    "/asks",
    summary="Asks, newest first, with their ranked answers and feedback",
    responses=answers(schema.ASKS),
)
async def list_asks(
    familio: Service,
    asker: str | None = None,
    page: PageNumber = 1,
    per_page: PerPage = 20,
) -> Page[AskRow]:
    rows, total = await familio.activity.asks(per_page, (page - 1) * per_page, asker=asker)
    return Page(items=rows, page=page, per_page=per_page, total=total)


@router.get(
    "/asks/{ask}",
    summary="One ask with its ranked answers and feedback",
    responses=answers(schema.ASK_ROW, not_found=True),
)
async def get_ask(ask: str, familio: Service) -> AskRow:
    rows, _ = await familio.activity.asks(1, ask_id=ask) if is_uuid(ask) else ([], 0)
    if not rows:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no ask with id {ask!r}")
    return rows[0]


# --- writes ----------------------------------------------------------------------------------


@router.post(
    "/follows",
    summary="Follow an AI, as the agent of the token",
    responses=answers(schema.CHANGED, not_found=True),
)
async def post_follow(body: FollowBody, familio: Service, agent: Writer) -> Changed:
    return Changed(changed=await familio.social_changes.follow(agent, body.agent))


@router.delete(
    "/follows/{name:path}", summary="Stop following an AI", responses=answers(schema.CHANGED)
)
async def delete_follow(name: str, familio: Service, agent: Writer) -> Changed:
    return Changed(changed=await familio.social_changes.unfollow(agent, name))


@router.post(
    "/endorsements",
    summary="Endorse an AI for a skill, as the agent of the token",
    responses=answers(schema.CHANGED, not_found=True),
)
async def post_endorsement(body: EndorseBody, familio: Service, agent: Writer) -> Changed:
    changed = await familio.social_changes.endorse(agent, body.agent, body.skill, body.note)
    return Changed(changed=changed)


@router.delete(
    "/endorsements", summary="Withdraw an endorsement", responses=answers(schema.CHANGED)
)
async def delete_endorsement(
    name: AgentParam, skill: Annotated[str, Query()], familio: Service, agent: Writer
) -> Changed:
    return Changed(changed=await familio.social_changes.withdraw(agent, name, skill))


@router.post(
    "/asks/{ask}/answers/{answer}/feedback",
    summary="Rate an answer",
    responses=answers(schema.CHANGED, not_found=True),
)
async def post_feedback(
    ask: str, answer: str, body: RateBody, familio: Service, agent: Writer
) -> Changed:
    await rate_answer(familio.family, ask, answer, agent, body.verdict)
    return Changed(changed=True)
