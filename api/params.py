"""Query parameters shared by the progress, report and export routes."""

import datetime as dt
from typing import Annotated

from fastapi import Depends, Query

from gis.progress import china_today


def _day(
    as_of: Annotated[
        dt.date | None, Query(description="截至日期 YYYY-MM-DD (default: today, China time)")
    ] = None,
) -> dt.date:
    return as_of or china_today()


Day = Annotated[dt.date, Depends(_day)]  # the ``as_of`` query parameter, today when absent
County = Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="县区代码 adcode")]
Layer = Annotated[str | None, Query(pattern="^(houses|water_works|roads)$")]
Limit = Annotated[int, Query(ge=1, le=5000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
