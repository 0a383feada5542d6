"""Logging in: bearer tokens for API and GIS clients, a session cookie and a login page for
browsers, and who am I."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import SessionDep
from api.security import COOKIE, CurrentPrincipal, PublicRoute, check_password
from gis import users
from gis.access import ROLES, ROLES_EN, Principal
from gis.errors import NotAuthenticated

router = APIRouter(tags=["auth"], route_class=PublicRoute)
me_router = APIRouter(tags=["auth"])

LOOPBACK = ("localhost", "127.0.0.1", "::1")
TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str


class CountyPublic(BaseModel):
    adcode: str
    name_zh: str


class MePublic(BaseModel):
    username: str
    display_name: str
    role: str
    role_zh: str
    role_en: str
    counties: list[CountyPublic]
    can_report: bool
    can_review: bool
    sees_personal: bool


@router.post(
    "/auth/token",
    summary="登录取得令牌 Log in and get a bearer token",
    responses={401: {"description": "Wrong username or password"}},
)
def token(
    request: Request,
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenPublic:
    principal = check_password(request, session, form.username, form.password)
    hours = request.app.state.settings.token_hours
    value, expires = users.issue_token(
        session, user_id=principal.user_id, kind="bearer", hours=hours
    )
    return TokenPublic(access_token=value, expires_at=expires.isoformat())


def me_of(session: SessionDep, principal: Principal) -> MePublic:
    names = users.county_names(session, principal.counties or ())
    return MePublic(
        username=principal.username or "",
        display_name=principal.display_name,
        role=principal.role or "",
        role_zh=ROLES.get(principal.role or "", ""),
        role_en=ROLES_EN.get(principal.role or "", ""),
        counties=[CountyPublic(adcode=a, name_zh=n) for a, n in names],
        can_report=principal.can_report,
        can_review=principal.can_review,
        sees_personal=principal.personal_everywhere_it_reads,
    )


@me_router.get("/auth/me", summary="当前用户 Who am I")
def me(session: SessionDep, principal: CurrentPrincipal) -> MePublic:
    return me_of(session, principal)


def _local_path(target: str | None) -> str:
    """Only redirect within this site (an open redirect would help phishing)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _cookie_secure(request: Request) -> bool:
    configured = request.app.state.settings.cookie_secure
    if configured is not None:
        return configured
    return request.url.scheme == "https" or request.url.hostname in (
        "localhost",
        "127.0.0.1",
        "::1",
    )


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _login_page(message: str = "", next_path: str = "/", status: int = 200) -> HTMLResponse:
    page = (TEMPLATES / "login.html").read_text(encoding="utf-8")
    page = page.replace("{{message}}", message).replace("{{next}}", next_path)
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/login", include_in_schema=False)
def login_page(next: str | None = None) -> HTMLResponse:
    return _login_page(next_path=_escape(_local_path(next)))


def _escape(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


@router.post("/login", summary="浏览器登录 Browser login (sets the session cookie)")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    target = _local_path(next)
    try:
        principal = check_password(request, session, username, password)
    except NotAuthenticated as exc:
        if _wants_json(request):
            raise
        return _login_page(f"{exc.zh}<br><span class=en>{exc.en}</span>", _escape(target), 401)
    hours = request.app.state.settings.token_hours
    value, _ = users.issue_token(session, user_id=principal.user_id, kind="session", hours=hours)
    response: Response
    if _wants_json(request):
        response = JSONResponse({"user": me_of(session, principal).model_dump()})
    else:
        response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(hours * 3600),
        httponly=True,
        secure=_cookie_secure(request),
        samesite="lax",
        path="/",
    )
    return response


@router.post("/logout", summary="退出登录 Log out (revokes the session or token)")
def logout(request: Request, session: SessionDep) -> Response:
    header = request.headers.get("authorization", "")
    for value in (
        request.cookies.get(COOKIE),
        header[7:] if header.lower().startswith("bearer ") else None,
    ):
        if value:
            users.revoke_token(session, value.strip())
    response: Response = (
        Response(status_code=204) if _wants_json(request) else RedirectResponse("/login", 303)
    )
    response.delete_cookie(COOKIE, path="/")
    return response
