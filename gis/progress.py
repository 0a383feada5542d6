"""Progress against the deadline rules as of any date: per county and for the city.

An asset's state on day D is its newest counting report (``counting_events``: rejected reports
and unconfirmed conflicts do not count) observed before the end of D, China time; a report
observed after D never changes the answer for D. The rules are today's (``deadline_dates``):
progress as of an earlier date is measured against the rules as they stand now.

The counts come from ``progress_tallies`` (migration 0005): each asset's moves between stages
summed per county, group and day as reports arrive, so a table as of any day sums a few hundred
thousand rows at most instead of reading every asset and its history.

For each rule and county: assets in scope, assets at the rule's stage or beyond, percent by
count, by physical size (households for houses, kilometres for roads and line works) and by
planned investment; days left; the daily rate now required; the recent rate (net assets reaching
the stage over the trailing ``RECENT_DAYS``); the projected finish at that rate; and a status:

- ``done``: nothing in scope remains below the rule's stage;
- ``overdue``: the due date has passed and something remains;
- ``on_track``: before the due date, and the recent rate finishes the rest by then;
- ``at_risk``: before the due date, and at the recent rate it would not (or nothing moved).
"""

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import db
from gis.access import Principal, require_read
from gis.errors import InvalidInput
from gis.queries.features import check_county
from gis.vocab import LAYERS

CHINA = dt.timezone(dt.timedelta(hours=8))
FIRST_DAY = dt.date(2021, 7, 17)  # the disaster; nothing can be measured before it
RECENT_DAYS = 14

STATUS_ZH = {"done": "已完成", "on_track": "正常", "at_risk": "有风险", "overdue": "已逾期"}
STATUS_COLOUR = {
    "done": "#C6EFCE",
    "on_track": "#DDEBF7",
    "at_risk": "#FFEB9C",
    "overdue": "#FFC7CE",
}


@dataclass(frozen=True)
class AsOfSql:
    """SQL pieces for the state of asset ``a`` before a cut-off: a LATERAL join to add to the
    FROM clause, and expressions for the stage, percent and time of that observation."""

    join: str
    stage: str
    percent: str
    observed: str


def _current(cutoff: str) -> str:
    """Whether asset ``a``'s current state was already its state before ``:cutoff``."""
    return f"(a.stage_observed_at IS NULL OR a.stage_observed_at < :{cutoff})"


def _newest_before(cutoff: str, columns: str, where: str = "TRUE") -> str:
    """``columns`` of asset ``a``'s newest counting report observed before ``:cutoff`` (if
    ``where``)."""
    return f"""
        SELECT {columns}
          FROM counting_events e
         WHERE {where} AND e.asset_id = a.id AND e.observed_at < :{cutoff}
         ORDER BY e.observed_at DESC, e.received_at DESC
         LIMIT 1"""


def state_as_of(cutoff: str, alias: str) -> AsOfSql:
    """The state of asset ``a`` before the bound parameter ``:cutoff``. The asset's current
    state is its newest counting report: when that was observed before the cut-off it is also
    the state then, and only assets reported since search their history."""
    current = _current(cutoff)
    since = f"a.stage_observed_at >= :{cutoff}"  # only the assets reported since search
    newest = _newest_before(cutoff, "e.stage, e.percent, e.observed_at", since)
    join = f"LEFT JOIN LATERAL ({newest}) {alias} ON true"
    return AsOfSql(
        join=join,
        stage=f"CASE WHEN {current} THEN a.stage ELSE coalesce({alias}.stage, 'not_started') END",
        percent=f"CASE WHEN {current} THEN a.percent ELSE coalesce({alias}.percent, 0) END",
        observed=f"CASE WHEN {current} THEN a.stage_observed_at ELSE {alias}.observed_at END",
    )


def percent_as_of(cutoff: str) -> str:
    """The percent of asset ``a`` before ``:cutoff``, as ``state_as_of`` gives it, for a query
    over many assets that needs nothing else of their state: the history is searched by a
    subquery run only for the assets reported since, where ``state_as_of``'s LATERAL join is
    entered for every asset (0.6 s of a pass over a million)."""
    return f"""CASE WHEN {_current(cutoff)} THEN a.percent
        ELSE coalesce(({_newest_before(cutoff, "e.percent")}), 0) END"""


def in_scope(alias: str) -> str:
    """The reader's counties, and optionally one of them, for rows ``alias`` with a
    ``county_adcode``: the parameters ``:county`` and ``:scope`` come from ``scope_params``."""
    return f"""
    (CAST(:county AS text) IS NULL OR {alias}.county_adcode = :county)
    AND (CAST(:scope AS text[]) IS NULL OR {alias}.county_adcode = ANY(:scope))
    """


SCOPE = in_scope("a")  # every as-of query over assets ``a``

# The tallies (migration 0005) hold each asset's steps between stages per day; summed up to a
# day they give the assets in each stage on that day, per county and group, with their weights.
_PROGRESS = text(
    f"""
    WITH rules AS (
        SELECT d.rule, d.layer, d.kind, d.batch, d.stage, st.ordinal AS need, d.due_on,
               d.label_zh, d.label_en
          FROM deadline_dates d JOIN stages st ON st.stage = d.stage
         WHERE CAST(:layer AS text) IS NULL OR d.layer = :layer
    ), stages_on AS (
        SELECT t.layer, t.county_adcode, t.kind, t.batch, st.ordinal,
               sum(t.assets) FILTER (WHERE t.day <= :day) AS assets,
               sum(t.assets) FILTER (WHERE t.day <= :earlier) AS assets_before,
               sum(t.households) FILTER (WHERE t.day <= :day) AS households,
               sum(t.km) FILTER (WHERE t.day <= :day) AS km,
               sum(t.investment_wan) FILTER (WHERE t.day <= :day) AS investment
          FROM progress_tallies t JOIN stages st ON st.stage = t.stage
         WHERE (CAST(:layer AS text) IS NULL OR t.layer = :layer) AND {in_scope("t")}
         GROUP BY t.layer, t.county_adcode, t.kind, t.batch, st.ordinal
    )
    SELECT r.rule, r.layer, r.kind, r.batch, r.stage, r.due_on, r.label_zh, r.label_en,
           x.county_adcode, c.name_zh AS county_zh,
           CAST(sum(x.assets) AS bigint) AS total,
           CAST(coalesce(sum(x.assets) FILTER (WHERE x.ordinal >= r.need), 0) AS bigint)
               AS reached,
           CAST(coalesce(sum(x.assets_before) FILTER (WHERE x.ordinal >= r.need), 0) AS bigint)
               AS reached_before,
           CAST(sum(x.households) AS bigint) AS households,
           CAST(sum(x.households) FILTER (WHERE x.ordinal >= r.need) AS bigint)
               AS households_reached,
           sum(x.km) AS km,
           sum(x.km) FILTER (WHERE x.ordinal >= r.need) AS km_reached,
           sum(x.investment) AS investment,
           sum(x.investment) FILTER (WHERE x.ordinal >= r.need) AS investment_reached
      FROM rules r
      JOIN stages_on x ON x.layer = r.layer
                      AND (r.kind IS NULL OR x.kind = r.kind)
                      AND (r.batch IS NULL OR x.batch = r.batch)
      LEFT JOIN counties c ON c.adcode = x.county_adcode
     GROUP BY GROUPING SETS (
         (r.rule, r.layer, r.kind, r.batch, r.stage, r.due_on, r.label_zh, r.label_en,
          x.county_adcode, c.name_zh),
         (r.rule, r.layer, r.kind, r.batch, r.stage, r.due_on, r.label_zh, r.label_en))
    HAVING sum(x.assets) > 0
     ORDER BY r.due_on, r.rule, x.county_adcode NULLS LAST
    """
)


# Each rule's assets at its stage or beyond on each of several days, in one pass over the tallies.
_REACHED_ON = text(
    f"""
    WITH rules AS (
        SELECT d.rule, d.layer, d.kind, d.batch, st.ordinal AS need
          FROM deadline_dates d JOIN stages st ON st.stage = d.stage
    ), moves AS (
        SELECT r.rule, t.day, sum(t.assets) AS reached
          FROM rules r
          JOIN progress_tallies t ON t.layer = r.layer
                                 AND (r.kind IS NULL OR t.kind = r.kind)
                                 AND (r.batch IS NULL OR t.batch = r.batch)
          JOIN stages st ON st.stage = t.stage AND st.ordinal >= r.need
         WHERE {in_scope("t")}
         GROUP BY r.rule, t.day
    )
    SELECT m.rule, d.day, CAST(sum(m.reached) AS bigint) AS reached
      FROM unnest(CAST(:days AS date[])) AS d(day)
      JOIN moves m ON m.day <= d.day
     GROUP BY m.rule, d.day
    """
)


@dataclass(frozen=True)
class RuleProgress:
    """One rule in one county (``county_adcode`` None: all the counties asked for)."""

    rule: str
    label_zh: str
    label_en: str
    layer: str
    kind: str | None
    batch: int | None
    stage: str
    due_on: dt.date
    county_adcode: str | None
    county_zh: str | None
    total: int
    reached: int
    percent: float
    percent_size: float | None  # by households (houses) or kilometres (roads, line works)
    size_unit: str | None  # "households" or "km"
    size_total: float | None
    size_reached: float | None
    percent_investment: float | None
    investment_wan: Decimal | None
    investment_reached_wan: Decimal | None
    days_left: int
    required_per_day: float | None
    recent_per_day: float
    projected_finish: dt.date | None
    status: str


def end_of(day: dt.date) -> dt.datetime:
    """The first instant after ``day`` in China (UTC+8)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CHINA)


def china_today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def scope_params(
    session: Session,
    principal: Principal,
    *,
    as_of: dt.date,
    county: str | None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Check the day and the county asked for; the parameters of SCOPE and ``:cutoff``."""
    check_as_of(as_of, today=today or china_today())
    if county is not None:
        check_county(session, county)
        require_read(principal, county)
    return {
        "county": county,
        "scope": None if principal.counties is None else sorted(principal.counties),
        "cutoff": end_of(as_of),
    }


def check_as_of(as_of: dt.date, *, today: dt.date) -> None:
    """Raise InvalidInput unless ``as_of`` lies between the disaster and today."""
    if as_of < FIRST_DAY:
        raise InvalidInput(
            f"日期 {as_of} 早于灾害发生（{FIRST_DAY}），请选择之后的日期",
            f"as_of {as_of} is before the disaster ({FIRST_DAY}); choose a later date.",
            field="as_of",
        )
    if as_of > today:
        raise InvalidInput(
            f"日期 {as_of} 在将来；进度只能统计到今天（{today}）",
            f"as_of {as_of} lies in the future; progress is known up to today ({today}).",
            field="as_of",
        )


def progress(
    session: Session,
    *,
    principal: Principal,
    as_of: dt.date,
    county: str | None = None,
    layer: str | None = None,
    today: dt.date | None = None,
) -> list[RuleProgress]:
    """Every deadline rule's progress as of ``as_of``, per county the principal may read and
    in total (the rows with ``county_adcode`` None), earliest due first."""
    if layer is not None and layer not in LAYERS:
        raise InvalidInput(
            f"图层 {layer!r} 不存在，可选：{'、'.join(LAYERS)}",
            f"Unknown layer {layer!r}; use one of {', '.join(LAYERS)}.",
            field="layer",
        )
    params = scope_params(session, principal, as_of=as_of, county=county, today=today)
    earlier = as_of - dt.timedelta(days=RECENT_DAYS)
    params |= {"layer": layer, "day": as_of, "earlier": earlier}
    db.plan_each_time(session)  # a generic plan took 6 times as long, see there
    rows = session.execute(_PROGRESS, params).all()
    return [_measure(row, as_of) for row in rows]


def _percent(part: float | Decimal | None, whole: float | Decimal | None) -> float | None:
    if not whole:
        return None
    return round(float(part or 0) / float(whole) * 100, 1)


def _measure(row, as_of: dt.date) -> RuleProgress:
    remaining = row.total - row.reached
    days_left = (row.due_on - as_of).days
    recent = max(row.reached - row.reached_before, 0) / RECENT_DAYS
    required = None
    if remaining == 0:
        required = 0.0
    elif days_left > 0:
        required = round(remaining / days_left, 2)
    projected = as_of if remaining == 0 else None
    if remaining and recent > 0:
        projected = as_of + dt.timedelta(days=math.ceil(remaining / recent))
    if remaining == 0:
        status = "done"
    elif days_left < 0:
        status = "overdue"
    elif projected is not None and projected <= row.due_on:
        status = "on_track"
    else:
        status = "at_risk"
    unit = "households" if row.layer == "houses" else ("km" if row.km else None)
    size_total = row.households if unit == "households" else row.km
    size_reached = row.households_reached if unit == "households" else row.km_reached
    return RuleProgress(
        rule=row.rule,
        label_zh=row.label_zh,
        label_en=row.label_en,
        layer=row.layer,
        kind=row.kind,
        batch=row.batch,
        stage=row.stage,
        due_on=row.due_on,
        county_adcode=row.county_adcode,
        county_zh=row.county_zh,
        total=row.total,
        reached=row.reached,
        percent=_percent(row.reached, row.total) or 0.0,
        percent_size=_percent(size_reached, size_total) if unit else None,
        size_unit=unit,
        size_total=None if size_total is None else round(float(size_total), 3),
        size_reached=None if size_total is None else round(float(size_reached or 0), 3),
        percent_investment=_percent(row.investment_reached, row.investment),
        investment_wan=row.investment,
        investment_reached_wan=row.investment_reached,
        days_left=days_left,
        required_per_day=required,
        recent_per_day=round(recent, 2),
        projected_finish=projected,
        status=status,
    )


def reached_on(
    session: Session,
    *,
    principal: Principal,
    days: list[dt.date],
    county: str | None = None,
) -> dict[str, dict[dt.date, int]]:
    """For each rule: the assets at its stage or beyond on each of ``days`` (a day missing from
    a rule's answer had none), over ``county`` or every county the principal may read."""
    for day in days:
        check_as_of(day, today=china_today())
    params = scope_params(session, principal, as_of=min(days), county=county)
    reached: dict[str, dict[dt.date, int]] = {}
    db.plan_each_time(session)
    for rule, day, n in session.execute(_REACHED_ON, {**params, "days": days}):
        reached.setdefault(rule, {})[day] = n
    return reached
