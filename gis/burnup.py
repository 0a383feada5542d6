"""Burn-up series: for each deadline rule, how many assets had reached its stage at each month's
end up to the day, against how many are in scope on the day (gis/progress.py)."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gis import progress as engine
from gis.access import Principal

START = dt.date(2021, 8, 31)  # the first month's end after the disaster


@dataclass(frozen=True)
class Series:
    rule: str
    label_zh: str
    layer: str
    due_on: dt.date
    days: list[dt.date]
    reached: list[int]
    total: int


def month_ends(until: dt.date) -> list[dt.date]:
    """Each month's last day from August 2021 up to ``until``, then ``until`` itself."""
    days, day = [], START
    while day < until:
        days.append(day)
        following = (day + dt.timedelta(days=1)).replace(day=28) + dt.timedelta(days=4)
        day = following - dt.timedelta(days=following.day)
    return [*days, until]


def burnup(
    session: Session, *, principal: Principal, as_of: dt.date, county: str | None = None
) -> list[Series]:
    """One series per rule (over ``county``, or every county the principal may read)."""
    days = month_ends(as_of)
    reached = engine.reached_on(session, principal=principal, days=days, county=county)
    rows = engine.progress(session, principal=principal, as_of=as_of, county=county)
    return [
        Series(
            rule=row.rule,
            label_zh=row.label_zh,
            layer=row.layer,
            due_on=row.due_on,
            days=days,
            reached=[reached.get(row.rule, {}).get(day, 0) for day in days],
            total=row.total,
        )
        for row in rows
        if row.county_adcode is None
    ]
