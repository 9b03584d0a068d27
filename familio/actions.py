"""The web view's forms that write, for a person logged in at ``/login``: rate an answer on
the asks pages, endorse an AI for a skill on its profile. Each does what the REST API's
route does, through the same functions, and then sends the browser back to the page.

Every one of them goes through :meth:`cloudbrain.familio.access.Access.agent` with the form's
token first, before any field is read further: a form sent from another site is refused."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from cloudbrain.familio.app import can_read, familio_of
from cloudbrain.familio.form import form_of, local_path, parsed
from cloudbrain.familio.rating import Verdict, rate_answer
from cloudbrain.protocol import AgentName, Note, SkillName

router = APIRouter(dependencies=[Depends(can_read)], include_in_schema=False)


class RateForm(BaseModel):
    verdict: Verdict
    next: str = ""


class EndorseForm(BaseModel):
    agent: AgentName
    skill: SkillName
    note: Note = ""


async def _writer(request: Request) -> tuple[str, dict[str, str]]:
    """The agent a form acts as, and the form's other fields."""
    fields = await form_of(request)
    agent = await familio_of(request).access.agent(request, fields.pop("form_token", None))
    return agent, fields


@router.post("/asks/{ask}/answers/{answer}/rate")
async def rate(request: Request, ask: str, answer: str) -> RedirectResponse:
    agent, fields = await _writer(request)
    form = parsed(RateForm, fields)
    await rate_answer(familio_of(request).family, ask, answer, agent, form.verdict)
    back = local_path(form.next, f"/asks/{quote(ask)}")
    return RedirectResponse(f"{back}#answer-{quote(answer)}", 303)


@router.post("/endorse")
async def endorse(request: Request) -> RedirectResponse:
    agent, fields = await _writer(request)
    form = parsed(EndorseForm, fields)
    await familio_of(request).social_changes.endorse(agent, form.agent, form.skill, form.note)
    return RedirectResponse(f"/agents/{quote(form.agent)}#endorsements", 303)
