"""Logging in to the web view and out again.

``/login`` takes an agent's token (and, if given, the agent's name, which must be the token's)
and answers with the login cookie: HttpOnly (no script reads it), SameSite=Strict (no other
site's page sends it), Secure under TLS. Failed logins slow down the address they come from,
then lock it out for a while (:class:`cloudbrain.auth_limit.AuthFailures`). ``/logout`` ends
the login on the server, so the cookie is worth nothing even if a copy of it survives.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.familio.access import Access, from_this_server
from cloudbrain.familio.app import familio_of
from cloudbrain.familio.form import form_of, local_path, parsed
from cloudbrain.familio.logins import LONGEST, same_token
from cloudbrain.familio.pages import render
from cloudbrain.identity import InvalidName, agent_of_token, check_name

router = APIRouter(include_in_schema=False)

FORM_LIFETIME = 3600  # seconds the login form's token lasts: a form left open that long reloads
LONGEST_TOKEN = 256  # characters; an agent's token has 46


class LoginForm(BaseModel):
    agent: Annotated[str, Field(max_length=64)] = ""
    token: Annotated[str, Field(max_length=LONGEST_TOKEN)] = ""
    next: str = "/"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: Annotated[str, Query()] = "/") -> Response:
    access = familio_of(request).access
    access.check_host(request)  # the cookie would not count on this Host: say so now
    await access.login(request)  # the page says who is logged in already, if anyone
    return _form(request, access, local_path(next), problem="", status=200)


@router.post("/login", response_class=HTMLResponse)
async def log_in(request: Request) -> Response:
    access = familio_of(request).access
    access.check_host(request)
    address = request.client.host if request.client else ""
    if access.failures.locked(address, time.monotonic()):
        return _locked(request, access)
    fields = await form_of(request)
    if not from_this_server(request, secure=access.secure_cookies):
        raise ProtocolError(
            ErrorCode.FORBIDDEN,
            "this login was not sent from this server's login page (its Origin or Referer "
            "names another site, or is missing): refused",
        )
    if not same_token(fields.pop("form_token", None), request.cookies.get(access.form_cookie, "")):
        raise ProtocolError(
            ErrorCode.FORBIDDEN,
            "the login form's security token is missing or out of date: open /login again",
        )
    form = parsed(LoginForm, fields)
    back = local_path(form.next)
    name = form.agent.strip()
    if name:
        try:
            check_name(name)
        except InvalidName as exc:
            return _form(request, access, back, problem=str(exc), status=422)
    record = await agent_of_token(access.engine, form.token.strip()) if form.token else None
    if record is None or (name and record.name != name):
        after = access.failures.failed(address, time.monotonic())
        await asyncio.sleep(after.delay)  # each failure from this address answers slower
        if after.close:
            return _locked(request, access)
        problem = "that is not the token of an active agent" + (" of that name" if name else "")
        return _form(request, access, back, problem=problem, status=401)
    value = await access.logins.start(record.name)
    if value is None:  # revoked between the check and now
        return _form(request, access, back, problem="that agent was just revoked", status=401)
    response = RedirectResponse(back if back != "/login" else "/", 303)
    _set_cookie(response, access, access.cookie, value, int(LONGEST.total_seconds()))
    response.delete_cookie(access.form_cookie, secure=access.secure_cookies, httponly=True)
    return response


@router.post("/logout")
async def log_out(request: Request) -> Response:
    """Ends the login on the server and clears the cookie. Only with the login's form token:
    otherwise any site could log a visitor out."""
    access = familio_of(request).access
    fields = await form_of(request)
    login = await access.login(request)
    if login is not None:
        access.check_form(request, login, fields.get("form_token"))
        await access.logins.end(login)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(
        access.cookie, secure=access.secure_cookies, httponly=True, samesite="strict"
    )
    return response


def _form(request: Request, access: Access, back: str, *, problem: str, status: int) -> Response:
    """The login page, with a fresh form token in its own cookie."""
    form_token = secrets.token_urlsafe(32)
    response = render(request, "login.html", next=back, form_token=form_token, problem=problem)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # each visit gets a token of its own
    _set_cookie(response, access, access.form_cookie, form_token, FORM_LIFETIME)
    return response


def _locked(request: Request, access: Access) -> Response:
    minutes = round(access.failures.forget_after / 60)
    response = _form(
        request,
        access,
        "/",
        problem=f"too many failed logins from your address: try again in {minutes} minutes",
        status=429,
    )
    response.headers["Retry-After"] = str(int(access.failures.forget_after))
    return response


def _set_cookie(response: Response, access: Access, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=access.secure_cookies,
        httponly=True,
        samesite="strict",
    )
