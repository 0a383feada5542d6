"""Progress against the deadlines as of any date (gis/progress.py), for the reader's counties."""

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.params import County, Day, Layer, Limit, Offset
from api.security import CurrentPrincipal
from gis import progress as engine
from gis import progress_lists
from gis.burnup import burnup
from gis.report_html import progress_html

router = APIRouter(tags=["progress"])


@router.get("/progress", summary="对照时间节点的进度 Progress against the deadlines")
def progress_table(
    session: SessionDep,
    principal: CurrentPrincipal,
    day: Day,
    county: County = None,
    layer: Layer = None,
) -> dict[str, Any]:
    rows = engine.progress(session, principal=principal, as_of=day, county=county, layer=layer)
    totals = [row for row in rows if row.county_adcode is None]
    return {
        "as_of": day.isoformat(),
        "recent_days": engine.RECENT_DAYS,
        "rules_note": "progress is measured against today's deadline rules",
        "counties": [dataclasses.asdict(row) for row in rows if row.county_adcode is not None],
        # one per rule, over every county the reader may see
        "totals": [_without_county(row) for row in totals],
    }


def _without_county(row: engine.RuleProgress) -> dict[str, Any]:
    body = dataclasses.asdict(row)
    del body["county_adcode"], body["county_zh"]
    return body


@router.get("/progress/overdue", summary="逾期项目 Assets past a due date, not at its stage")
def overdue(
    session: SessionDep,
    principal: CurrentPrincipal,
    day: Day,
    county: County = None,
    layer: Layer = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    rows = progress_lists.overdue(
        session, principal=principal, as_of=day, county=county, layer=layer, limit=limit,
        offset=offset,
    )  # fmt: skip
    return {"as_of": day.isoformat(), "limit": limit, "offset": offset, "assets": rows}


@router.get("/progress/stale", summary="长期未上报 Unfinished assets with no recent report")
def stale(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    day: Day,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    county: County = None,
    layer: Layer = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    silent_days = days or request.app.state.settings.stale_days
    rows = progress_lists.stale(
        session, principal=principal, as_of=day, days=silent_days, county=county, layer=layer,
        limit=limit, offset=offset,
    )  # fmt: skip
    return {
        "as_of": day.isoformat(),
        "days": silent_days,
        "limit": limit,
        "offset": offset,
        "assets": rows,
    }


@router.get(
    "/progress/money",
    summary="资金与进度 Planned investment, funds secured, and where money and work diverge",
)
def money(
    session: SessionDep,
    principal: CurrentPrincipal,
    day: Day,
    gap: Annotated[float, Query(gt=0, le=100, description="percentage points")] = 30,
    county: County = None,
    layer: Layer = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    result = progress_lists.money(
        session, principal=principal, as_of=day, gap=gap, county=county, layer=layer,
        limit=limit,
    )  # fmt: skip
    return {
        "as_of": day.isoformat(),
        "gap": gap,
        "funds_note": "funds are as recorded now; the tracker keeps no history of them",
        **result,
    }


@router.get(
    "/reports/progress",
    summary="可打印的进度报告 Printable progress report (HTML with burn-up charts)",
    response_class=HTMLResponse,
)
def printable_report(
    session: SessionDep,
    principal: CurrentPrincipal,
    day: Day,
    county: County = None,
) -> HTMLResponse:
    rows = engine.progress(session, principal=principal, as_of=day, county=county)
    series = burnup(session, principal=principal, as_of=day, county=county)
    page = progress_html(rows, series, as_of=day, generated_at=dt.datetime.now(engine.CHINA))
    return HTMLResponse(page, headers={"Cache-Control": "private, no-store"})
