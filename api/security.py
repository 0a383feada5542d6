"""Who is asking: closed by default.

Every route needs a login unless its router is built with ``PublicRoute`` (health, login, docs,
the inspector page's shell) or ``OpenReadRoute`` (the layers, readable by anyone only when
``REBUILD_ANONYMOUS_READ`` is on, and then only with public fields). The check is one
application-wide dependency (``guard``), so a new router is closed unless it says otherwise.

Credentials, in this order: ``Authorization: Bearer <token>`` (from /auth/token);
``Authorization: Basic`` on read requests (GET/HEAD, for QGIS and GDAL); the browser session
cookie set by /login (its unsafe requests must come from this site's own pages).
"""

import base64
import binascii
import hashlib
import threading
import time
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from api.deps import SessionDep
from gis import users
from gis.access import ANONYMOUS, Principal
from gis.errors import Forbidden, NotAuthenticated, TooManyRequests
from gis.health import require_current_schema

COOKIE = "rebuild_session"
READ_METHODS = ("GET", "HEAD")


class PublicRoute(APIRoute):
    """A route anyone may call: health, login, docs, static shells."""


class OpenReadRoute(APIRoute):
    """A read route that anonymous users may call when REBUILD_ANONYMOUS_READ is on."""


def _login_needed() -> NotAuthenticated:
    return NotAuthenticated(
        "请先登录（浏览器：/login；接口：POST /auth/token 取得令牌后放在 Authorization 头中）",
        "Log in first (browser: /login; API: get a token from POST /auth/token and send it as "
        "'Authorization: Bearer <token>').",
        field="Authorization",
    )


def _expired() -> NotAuthenticated:
    return NotAuthenticated(
        "登录已过期或已被注销，请重新登录",
        "Your login has expired or was revoked; log in again.",
        field="Authorization",
    )


class BasicCache:
    """Recently verified Basic credentials, so that a GIS client paging through a layer does not
    pay an Argon2 verification (tens of ms) per request. An entry holds the stored password
    hash it was verified against and lapses when that hash changes or the user is disabled."""

    def __init__(self, seconds: float = 300) -> None:
        self.seconds = seconds
        self._entries: dict[bytes, tuple[int, str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, password: str) -> bytes:
        return hashlib.sha256(f"{username}\0{password}".encode()).digest()

    def get(self, key: bytes) -> tuple[int, str] | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[2] < time.monotonic():
            return None
        return entry[0], entry[1]

    def put(self, key: bytes, user_id: int, password_hash: str) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (user_id, password_hash, time.monotonic() + self.seconds)


class LoginThrottle:
    """At most ``limit`` failed logins per name and per client address in ``window`` seconds."""

    def __init__(self, limit: int = 10, window: float = 900) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(key, []) if t > now - self.window]
        self._failures[key] = kept
        return kept

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if any(len(self._recent(k, now)) >= self.limit for k in keys):
                minutes = round(self.window / 60)
                raise TooManyRequests(
                    f"登录失败次数过多，请 {minutes} 分钟后再试，或联系管理员重设密码",
                    f"Too many failed logins; wait {minutes} minutes or ask an administrator "
                    "to reset the password.",
                    field="username",
                )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)


def check_password(request: Request, session: SessionDep, username: str, password: str):
    """Verify a password login, throttled per name and client address."""
    throttle: LoginThrottle = request.app.state.login_throttle
    keys = (f"user:{username}", f"addr:{request.client.host if request.client else '-'}")
    throttle.check(*keys)
    try:
        return users.verify_password(session, username, password)
    except NotAuthenticated:
        throttle.failed(*keys)
        raise


def _basic(request: Request, session: SessionDep, credentials: str) -> Principal:
    if request.method not in READ_METHODS:
        raise NotAuthenticated(
            "HTTP Basic 只能用于读取；写入请用令牌（POST /auth/token）",
            "HTTP Basic is accepted for reading only; get a token (POST /auth/token) to write.",
            field="Authorization",
        )
    try:
        username, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _login_needed() from None
    cache: BasicCache = request.app.state.basic_cache
    key = cache.key(username, password)
    hit = cache.get(key)
    if hit is not None and users.password_fingerprint(session, hit[0]) == hit[1]:
        principal = users.principal_by_id(session, hit[0])
        if principal is not None:
            return principal
    principal = check_password(request, session, username, password)
    fingerprint = users.password_fingerprint(session, principal.user_id)
    if fingerprint is not None:
        cache.put(key, principal.user_id, fingerprint)
    return principal


def _same_site(request: Request) -> bool:
    """Whether an unsafe request carrying the session cookie comes from this site's pages
    (SameSite=Lax already keeps other sites' forms out; this also covers old browsers)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def authenticate(request: Request, session: SessionDep) -> Principal | None:
    """The principal behind the request's credentials; None when it carries none."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            principal = users.principal_for_token(session, value.strip())
            if principal is None:
                raise _expired()
            return principal
        if scheme.lower() == "basic" and value.strip():
            return _basic(request, session, value.strip())
        raise _login_needed()
    cookie = request.cookies.get(COOKIE)
    if cookie:
        principal = users.principal_for_token(session, cookie)
        if principal is None:
            raise _expired()
        if request.method not in READ_METHODS and not _same_site(request):
            raise Forbidden(
                "请求来自其他网站，已拒绝", "Cross-site request refused.", field="Origin"
            )
        return principal
    return None


def _schema_is_current(request: Request, session: SessionDep) -> None:
    """Once per process, before the first data route: the schema is the one this code expects
    (else 503 naming `rebuild migrate`). A schema that goes missing later still gives 503s
    (api/errors.py maps the database's undefined-table errors)."""
    state = request.app.state
    if not getattr(state, "schema_checked", False):
        require_current_schema(session)
        state.schema_checked = True


def guard(request: Request, session: SessionDep) -> Principal:
    """The application-wide check: a login for everything but public and open-read routes."""
    route = request.scope.get("route")
    if isinstance(route, PublicRoute):
        return ANONYMOUS
    _schema_is_current(request, session)
    principal = authenticate(request, session)
    if principal is not None:
        return principal
    if (
        isinstance(route, OpenReadRoute)
        and request.method in READ_METHODS
        and request.app.state.settings.anonymous_read
    ):
        return ANONYMOUS
    raise _login_needed()


CurrentPrincipal = Annotated[Principal, Depends(guard)]
