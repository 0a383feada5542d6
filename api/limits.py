"""A bound on request bodies, checked before the application reads them.

A declared Content-Length over the bound is refused at once; a body sent without one (chunked)
is read up to the bound (no further) before the application sees it. Either way the answer is
a 413 in the project's error shape, and nothing is stored: the handler never runs.
"""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis.errors import TooLarge


def _too_large(limit: int) -> TooLarge:
    mb = f"{limit / 1_000_000:.1f}".removesuffix(".0")
    return TooLarge(
        f"请求内容过大：最多 {mb} MB。照片请压缩后上传，离线上报请分批同步",
        f"The request body is too large: at most {mb} MB. Compress photos; sync reports in "
        "smaller batches.",
        field="body",
    )


class BodyLimit:
    """ASGI middleware: ``limit_for(path)`` bytes at most per request body."""

    def __init__(self, app: ASGIApp, *, default: int, photos: int) -> None:
        self.app, self.default, self.photos = app, default, photos

    def limit_for(self, path: str) -> int:
        return self.photos if path == "/photos" else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server stops at Content-Length
            return
        # No length declared (chunked): take the body in, up to the bound, then hand it on.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await _refuse(send, limit)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(_too_large(limit).as_dict(), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
