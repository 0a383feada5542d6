"""Progress against the deadlines as of any date (gis/progress.py), for the reader's counties."""

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.security import CurrentPrincipal
from gis import progress as engine

router = APIRouter(tags=["progress"])


@router.get("/progress", summary="对照时间节点的进度 Progress against the deadlines")
def progress_table(
    session: SessionDep,
    principal: CurrentPrincipal,
    as_of: Annotated[
        dt.date | None, Query(description="截至日期 YYYY-MM-DD (default: today, China time)")
    ] = None,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
    layer: Annotated[str | None, Query(pattern="^(houses|water_works|roads)$")] = None,
) -> dict[str, Any]:
    day = as_of or dt.datetime.now(engine.CHINA).date()
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
