"""Lists behind the progress table, as of a day: overdue assets and stale assets.

Both use the rule of ``gis/progress.py``: an asset's state on day D is its newest counting report
observed before the end of D (China time); the county scope of the reader applies.
"""

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.access import Principal, require_read
from gis.errors import InvalidInput
from gis.progress import CHINA, check_as_of, end_of
from gis.queries.features import check_county

# The newest counting report of asset ``a`` observed before :cutoff (none: not started).
_STATE_AS_OF = """
    LEFT JOIN LATERAL (
        SELECT e.stage, e.percent, e.observed_at
          FROM counting_events e
         WHERE e.asset_id = a.id AND e.observed_at < :cutoff
         ORDER BY e.observed_at DESC, e.received_at DESC
         LIMIT 1) st ON true
"""

_SCOPE = """
    (CAST(:county AS text) IS NULL OR a.county_adcode = :county)
    AND (CAST(:scope AS text[]) IS NULL OR a.county_adcode = ANY(:scope))
"""

_OVERDUE = text(
    f"""
    SELECT a.id, a.code, a.name, a.layer, a.kind, k.name_zh AS kind_zh, a.county_adcode,
           c.name_zh AS county_zh, a.town, a.village,
           d.rule, d.label_zh AS rule_zh, d.due_on, d.stage AS due_stage,
           CAST(:day AS date) - d.due_on AS days_overdue,
           coalesce(st.stage, 'not_started') AS stage,
           coalesce(st.percent, 0) AS percent, st.observed_at AS last_report
      FROM deadline_dates d
      JOIN stages need ON need.stage = d.stage
      JOIN assets a ON a.layer = d.layer
                   AND (d.kind IS NULL OR a.kind = d.kind)
                   AND (d.batch IS NULL OR a.batch = d.batch)
      {_STATE_AS_OF}
      JOIN stages now ON now.stage = coalesce(st.stage, 'not_started')
      JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
      JOIN counties c ON c.adcode = a.county_adcode
     WHERE d.due_on < :day AND now.ordinal < need.ordinal AND {_SCOPE}
       AND (CAST(:layer AS text) IS NULL OR a.layer = :layer)
     ORDER BY d.due_on, a.county_adcode, a.code
     LIMIT :limit OFFSET :offset
    """
)

_STALE = text(
    f"""
    SELECT a.id, a.code, a.name, a.layer, a.kind, k.name_zh AS kind_zh, a.county_adcode,
           c.name_zh AS county_zh, a.town, a.village,
           coalesce(st.stage, 'not_started') AS stage, coalesce(st.percent, 0) AS percent,
           st.observed_at AS last_report,
           CAST(:day AS date) - CAST(st.observed_at AT TIME ZONE 'Asia/Shanghai' AS date)
               AS days_since
      FROM assets a
      {_STATE_AS_OF}
      JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
      JOIN counties c ON c.adcode = a.county_adcode
     WHERE coalesce(st.stage, 'not_started') NOT IN ('completed', 'accepted')
       AND (st.observed_at IS NULL OR st.observed_at < :stale_before)
       AND {_SCOPE}
       AND (CAST(:layer AS text) IS NULL OR a.layer = :layer)
     ORDER BY st.observed_at NULLS FIRST, a.code
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
    check_as_of(as_of, today=today or dt.datetime.now(CHINA).date())
    if county is not None:
        check_county(session, county)
        require_read(principal, county)
    return {
        "day": as_of,
        "cutoff": end_of(as_of),
        "county": county,
        "layer": layer,
        "scope": None if principal.counties is None else sorted(principal.counties),
        "limit": limit,
        "offset": offset,
    }


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
    """Assets past a rule's due date on ``as_of`` and not yet at its stage, longest due first."""
    params = _params(
        session, principal, as_of=as_of, county=county, layer=layer, limit=limit,
        offset=offset, today=today,
    )  # fmt: skip
    return [dict(row._mapping) for row in session.execute(_OVERDUE, params)]


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
    return [dict(row._mapping) for row in session.execute(_STALE, params)]
