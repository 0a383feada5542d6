"""The HTML pages of /ogc (``f=html``): Chinese first, English beside it, nothing from other
sites. One template (web/templates/ogc.html) draws every kind of page from the same body
the JSON answer carries."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.http import public_base

TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

# Columns of the items table: property, Chinese and English headings.
ASSET_COLUMNS = (
    ("code", "代码", "Code"),
    ("name", "名称", "Name"),
    ("county_zh", "县区", "County"),
    ("village", "村", "Village"),
    ("kind_zh", "类别", "Kind"),
    ("stage_zh", "阶段", "Stage"),
    ("percent", "完成%", "Percent"),
    ("stage_observed_at", "最近核查", "Last observed"),
)
COUNTY_COLUMNS = (("name_zh", "名称", "Name"), ("name_en", "英文名", "English name"))


def render(kind: str, request: Request, body: dict[str, Any]) -> HTMLResponse:
    """The page of ``kind`` (landing, conformance, collections, collection, queryables, items,
    item) for ``body``."""
    columns = COUNTY_COLUMNS if body.get("collection") == "counties" else ASSET_COLUMNS
    html = _ENV.get_template("ogc.html").render(
        kind=kind, body=body, root=f"{public_base(request)}/ogc", columns=columns
    )
    return HTMLResponse(html)
