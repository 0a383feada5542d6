"""Human-facing pages. Chinese first; everything served locally (works on an intranet)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.security import OpenReadRoute

router = APIRouter(tags=["pages"], include_in_schema=False, route_class=OpenReadRoute)

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    return HTMLResponse((TEMPLATES / "index.html").read_text(encoding="utf-8"))
