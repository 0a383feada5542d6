"""HTTP details the framework leaves to the application: HEAD on every GET, trusted hosts and
the public address links are built from, static files without dotfiles, ETag comparison."""

import json
from pathlib import PurePosixPath

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis.errors import InvalidParameter

# Set in the scope of a HEAD request answered as its GET: a route whose body is costly to make
# (a layer download) can leave it out (``answers_head``).
HEAD = "rebuild.head"


def answers_head(request: Request) -> bool:
    """Whether ``request`` is a HEAD answered as its GET, whose body is thrown away."""
    return bool(request.scope.get(HEAD))


class HeadAsGet:
    """ASGI middleware: a HEAD request is answered as its GET, with the same headers and no
    body (RFC 9110 9.3.2), so that every GET route and static file answers HEAD too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET", HEAD: True}, receive, without_body)


def host_name(host_header: str) -> str:
    """The host of a Host header, lower case, without port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class TrustedHosts:
    """ASGI middleware: requests whose Host is not one of ``allowed`` get a 400 in the
    project's error shape, so a forged Host never reaches a link the app builds."""

    def __init__(self, app: ASGIApp, *, allowed: frozenset[str]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if host_name(raw) in self.allowed:
            await self.app(scope, receive, send)
            return
        error = InvalidParameter(
            f"主机名 {raw[:100]!r} 不受信任：请用服务的正式地址访问；管理员可在 "
            "REBUILD_TRUSTED_HOSTS 或 REBUILD_PUBLIC_URL 中设置",
            f"Host {raw[:100]!r} is not trusted: use the service's own address. Administrators "
            "set REBUILD_TRUSTED_HOSTS or REBUILD_PUBLIC_URL.",
            field="Host",
        )
        body = json.dumps(error.as_dict(), ensure_ascii=False).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def public_base(request: Request) -> str:
    """Where links start: REBUILD_PUBLIC_URL, else the request's (trusted) scheme and host."""
    configured = request.app.state.settings.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


class PublicFiles(StaticFiles):
    """Static files without dotfiles (``.package-lock.json``, ``.installed``) or anything under a
    dot folder; folders are never listed (``html`` stays off)."""

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        if any(part.startswith(".") for part in PurePosixPath(path).parts):
            raise HTTPException(status_code=404)
        return path


def etag_matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header matches ``tag`` by weak comparison (RFC 9110 13.1.2):
    ``*`` matches, ``W/"1"`` matches ``"1"``; a list matches if any member does."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    ours = tag.removeprefix("W/")
    for member in if_none_match.split(","):
        candidate = member.strip().removeprefix("W/")
        if len(candidate) >= 2 and candidate[0] == candidate[-1] == '"' and candidate == ours:
            return True
    return False
