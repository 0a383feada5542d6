"""Human-facing pages: the dashboard at ``/``. Chinese first (``?lang=en`` for English);
everything served locally (works on an intranet)."""

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.deps import SessionDep
from api.params import Day
from api.security import CurrentPrincipal
from gis.maps.dashboard import dashboard

router = APIRouter(tags=["pages"], include_in_schema=False)

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

WORDS = {
    "zh": {
        "title": "新乡市灾后重建进度追踪",
        "subtitle": "农村住房、水毁水利设施、水毁农村公路重建进度，对照市里确定的时间节点",
        "switch": "English",
        "logout": "退出登录",
        "as_of": "截至",
        "show": "查看",
        "prev_month": "‹ 上月",
        "next_month": "下月 ›",
        "layer_map": "项目地图",
        "overview": "各县区进度地图",
        "no_assets": "暂无项目",
        "due": "截止",
        "county": "县区",
        "reached": "已达标",
        "total": "总数",
        "days_left": "剩余天数",
        "required": "需日均",
        "recent": "近14天日均",
        "projected": "预计完成",
        "status": "状态",
        "downloads": "导出与报表",
        "xlsx": "进度表（Excel）",
        "csv": "进度汇总（CSV）",
        "zip": "分县区进度表（压缩包）",
        "report": "可打印的进度报告",
        "more": "其他",
        "inspect": "现场巡查（手机）",
        "ogc": "数据图层（OGC API Features，供 QGIS 使用）",
        "docs": "接口文档",
        "note": "县界数据仅供进度追踪使用，不作为官方测绘成果。",
    },
    "en": {
        "title": "Xinxiang post-flood rebuilding",
        "subtitle": "Rural houses, water works and rural roads against the city's deadlines",
        "switch": "中文",
        "logout": "Log out",
        "as_of": "As of",
        "show": "Show",
        "prev_month": "‹ month before",
        "next_month": "month after ›",
        "layer_map": "map of assets",
        "overview": "Counties map",
        "no_assets": "No assets",
        "due": "due",
        "county": "County",
        "reached": "Reached",
        "total": "Total",
        "days_left": "Days left",
        "required": "Required/day",
        "recent": "Recent/day",
        "projected": "Projected",
        "status": "Status",
        "downloads": "Exports and reports",
        "xlsx": "Progress workbook (Excel)",
        "csv": "Progress summary (CSV)",
        "zip": "Workbooks per county (zip)",
        "report": "Printable progress report",
        "more": "More",
        "inspect": "Field inspection (phone)",
        "ogc": "Layers (OGC API Features, for QGIS)",
        "docs": "API documentation",
        "note": "County boundaries are for tracking, not an official survey.",
    },
}


@router.get("/", response_class=HTMLResponse)
def index(
    session: SessionDep,
    principal: CurrentPrincipal,
    day: Day,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
) -> HTMLResponse:
    figures = dashboard(session, principal=principal, as_of=day, lang=lang)
    base = {"as_of": str(day), "lang": "en" if lang == "en" else None}

    def query(**changes) -> str:
        return urlencode({k: v for k, v in (base | changes).items() if v is not None})

    page = _ENV.get_template("dashboard.html").render(
        d=figures,
        t=WORDS[lang],
        lang=lang,
        query=query,
        switch_query=query(lang=None if lang == "en" else "en"),
    )
    return HTMLResponse(page, headers={"Cache-Control": "private, no-store"})
