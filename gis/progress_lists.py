"""Lists behind the progress table, as of a day: overdue assets, stale assets, and money.

Both use the rule of ``gis/progress.py``: an asset's state on day D is its newest counting report
observed before the end of D (China time); the county scope of the reader applies.
"""

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import db
from gis.access import Principal
from gis.errors import InvalidInput
from gis.progress import SCOPE, end_of, percent_as_of, progress, scope_params, state_as_of

_AS_OF = state_as_of("cutoff", "past")
_PERCENT = percent_as_of("cutoff")

# One rule's overdue assets, a page of them: the rules are taken one at a time (earliest due
# first) so that each page walks the index on (layer, county, id) and stops at its limit,
# instead of sorting every late asset of the city.
_OVERDUE = text(
    f"""
    SELECT a.id, a.code, a.name, a.layer, a.kind, k.name_zh AS kind_zh, a.county_adcode,
           c.name_zh AS county_zh, a.town, a.village,
           {_AS_OF.stage} AS stage,
           {_AS_OF.percent} AS percent, {_AS_OF.observed} AS last_report
      FROM assets a
      {_AS_OF.join}
      JOIN stages now ON now.stage = {_AS_OF.stage}
      JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
      JOIN counties c ON c.adcode = a.county_adcode
     WHERE a.layer = :rule_layer
       AND (CAST(:rule_kind AS text) IS NULL OR a.kind = :rule_kind)
       AND (CAST(:rule_batch AS smallint) IS NULL OR a.batch = :rule_batch)
       AND now.ordinal < (SELECT ordinal FROM stages WHERE stage = :rule_stage)
       AND {SCOPE}
     ORDER BY a.layer, a.county_adcode, a.id
     LIMIT :limit OFFSET :offset
    """
)

_STALE = text(
    f"""
    SELECT a.id, a.code, a.name, a.layer, a.kind, k.name_zh AS kind_zh, a.county_adcode,
           c.name_zh AS county_zh, a.town, a.village,
           {_AS_OF.stage} AS stage, {_AS_OF.percent} AS percent,
           {_AS_OF.observed} AS last_report,
           CAST(:day AS date) - CAST({_AS_OF.observed} AT TIME ZONE 'Asia/Shanghai' AS date)
               AS days_since
      FROM assets a
      {_AS_OF.join}
      JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
      JOIN counties c ON c.adcode = a.county_adcode
     WHERE {_AS_OF.stage} NOT IN ('completed', 'accepted')
       AND ({_AS_OF.observed} IS NULL OR {_AS_OF.observed} < :stale_before)
       AND {SCOPE}
       AND (CAST(:layer AS text) IS NULL OR a.layer = :layer)
     ORDER BY {_AS_OF.observed} NULLS FIRST, a.code
     LIMIT :limit OFFSET :offset
    """
)


def _params(
    session: Session,
    principal: Principal,
    *,
    as_of: dt.date,
    county: str | None,
    layer: str | None,
    limit: int,
    offset: int,
    today: dt.date | None,
) -> dict[str, Any]:
    params = scope_params(session, principal, as_of=as_of, county=county, today=today)
    return {**params, "day": as_of, "layer": layer, "limit": limit, "offset": offset}


def overdue(
    session: Session,
    *,
    principal: Principal,
    as_of: dt.date,
    county: str | None = None,
    layer: str | None = None,
    limit: int = 100,
    offset: int = 0,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Assets past a rule's due date on ``as_of`` and not yet at its stage: the rule due
    earliest first, then by county and in the order the assets were recorded. An asset late for
    two rules appears once for each."""
    params = _params(
        session, principal, as_of=as_of, county=county, layer=layer, limit=limit,
        offset=offset, today=today,
    )  # fmt: skip
    table = progress(
        session, principal=principal, as_of=as_of, county=county, layer=layer, today=today
    )
    db.plan_each_time(session)  # a generic plan took twice as long, see there
    late = [r for r in table if r.county_adcode is None and r.status == "overdue"]
    found: list[dict[str, Any]] = []
    for rule in late:
        remaining = rule.total - rule.reached  # the tallies know how many without a look
        if offset >= remaining:
            offset -= remaining
            continue
        page = session.execute(
            _OVERDUE,
            {
                **params,
                "rule_layer": rule.layer,
                "rule_kind": rule.kind,
                "rule_batch": rule.batch,
                "rule_stage": rule.stage,
                "limit": limit - len(found),
                "offset": offset,
            },
        )
        extra = {
            "rule": rule.rule,
            "rule_zh": rule.label_zh,
            "due_on": rule.due_on,
            "due_stage": rule.stage,
            "days_overdue": -rule.days_left,
        }
        found += [dict(row._mapping) | extra for row in page]
        offset = 0
        if len(found) >= limit:
            break
    return found


def stale(
    session: Session,
    *,
    principal: Principal,
    as_of: dt.date,
    days: int,
    county: str | None = None,
    layer: str | None = None,
    limit: int = 100,
    offset: int = 0,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Unfinished assets (below 已完工 on ``as_of``) with no counting report in the ``days``
    before it; never reported first, then the longest silent."""
    if days < 1:
        raise InvalidInput("天数至少为 1", "days must be at least 1.", field="days")
    params = _params(
        session, principal, as_of=as_of, county=county, layer=layer, limit=limit,
        offset=offset, today=today,
    )  # fmt: skip
    params["stale_before"] = end_of(as_of) - dt.timedelta(days=days)
    db.plan_each_time(session)
    return [dict(row._mapping) for row in session.execute(_STALE, params)]


_MONEY_SUMMARY = text(
    f"""
    SELECT a.county_adcode, c.name_zh AS county_zh, a.layer,
           count(*) AS assets,
           sum(a.planned_investment_wan) AS planned_wan,
           sum(a.funds_secured_wan) AS secured_wan,
           round(avg({_PERCENT}), 1) AS mean_percent_done
      FROM assets a
      JOIN counties c ON c.adcode = a.county_adcode
     WHERE {SCOPE} AND (CAST(:layer AS text) IS NULL OR a.layer = :layer)
     GROUP BY GROUPING SETS ((a.county_adcode, c.name_zh, a.layer), (a.layer))
     ORDER BY a.layer, a.county_adcode NULLS LAST
    """
)

# Both sides from one pass over the assets, keeping only those with a gap (the rest would be
# written out and read twice): each side keeps its own top ``limit``.
_MONEY_GAPS = text(
    f"""
    WITH measured AS MATERIALIZED (
        SELECT * FROM (
            SELECT a.id, a.code, a.name, a.layer, a.kind, a.county_adcode,
                   c.name_zh AS county_zh, a.village, a.planned_investment_wan AS planned_wan,
                   a.funds_secured_wan AS secured_wan,
                   round(100 * a.funds_secured_wan / a.planned_investment_wan, 1)
                       AS percent_funded,
                   {_PERCENT} AS percent_done
              FROM assets a
              JOIN counties c ON c.adcode = a.county_adcode
             WHERE a.planned_investment_wan > 0 AND a.funds_secured_wan IS NOT NULL
               AND {SCOPE} AND (CAST(:layer AS text) IS NULL OR a.layer = :layer)) m
         WHERE abs(m.percent_funded - m.percent_done) >= :gap
    )
    (SELECT true AS money_ahead, * FROM measured m
      WHERE m.percent_funded - m.percent_done >= :gap
      ORDER BY m.percent_funded - m.percent_done DESC, m.code
      LIMIT :limit)
    UNION ALL
    (SELECT false, * FROM measured m
      WHERE m.percent_done - m.percent_funded >= :gap
      ORDER BY m.percent_done - m.percent_funded DESC, m.code
      LIMIT :limit)
    """
)


def money(
    session: Session,
    *,
    principal: Principal,
    as_of: dt.date,
    gap: float = 30.0,
    county: str | None = None,
    layer: str | None = None,
    limit: int = 100,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Planned investment and funds secured per county and layer (``counties``) and per layer
    over the counties the principal may read (``totals``), with the mean percent done on
    ``as_of``; and the assets whose money runs ahead of their physical progress by ``gap``
    percentage points or more, and the reverse. Funds are as recorded now: the tracker keeps
    no history of them."""
    if not 0 < gap <= 100:
        raise InvalidInput(
            "差距应在 0 到 100 个百分点之间", "gap must be 0-100 percentage points.", "gap"
        )
    params = _params(
        session, principal, as_of=as_of, county=county, layer=layer, limit=limit, offset=0,
        today=today,
    )  # fmt: skip
    db.plan_each_time(session)
    summary = [dict(r._mapping) for r in session.execute(_MONEY_SUMMARY, params)]
    counties = [r for r in summary if r["county_adcode"] is not None]
    totals = [
        {k: v for k, v in r.items() if k not in ("county_adcode", "county_zh")}
        for r in summary
        if r["county_adcode"] is None
    ]
    gaps: dict[str, list[dict[str, Any]]] = {"money_ahead": [], "progress_ahead": []}
    for row in session.execute(_MONEY_GAPS, {**params, "gap": gap}):
        ahead, *_ = row
        fields = {k: v for k, v in row._mapping.items() if k != "money_ahead"}
        gaps["money_ahead" if ahead else "progress_ahead"].append(fields)
    return {"counties": counties, "totals": totals, **gaps}
