"""The field inspector's phone page: a static shell (no data in it) that logs in, works offline
through its service worker, and talks to the API with the session cookie."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.security import PublicRoute

router = APIRouter(include_in_schema=False, route_class=PublicRoute)

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"


@router.get("/inspect")
def inspect_page() -> FileResponse:
    return FileResponse(
        STATIC / "inspect" / "index.html",
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/inspect/sw.js")
def service_worker() -> FileResponse:
    # Served under /inspect/ but controlling the page at /inspect itself, which lies outside
    # the worker's default scope (/inspect/): the header allows the wider scope.
    return FileResponse(
        STATIC / "inspect" / "sw.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )
