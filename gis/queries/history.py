"""Reports as JSON built in PostGIS: an asset's history, and the county's list of reports."""

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import db
from gis.access import Principal, require_read
from gis.errors import NotFound
from gis.queries import features

REPORT_JSON = """
    json_build_object(
        'id', e.id,
        'asset_id', e.asset_id,
        'asset_code', a.code,
        'county_adcode', a.county_adcode,
        'stage', e.stage,
        'stage_zh', s.name_zh,
        'percent', e.percent,
        'prev_stage', e.prev_stage,
        'prev_percent', e.prev_percent,
        'observed_at', e.observed_at,
        'received_at', e.received_at,
        'reporter', CASE WHEN u.id IS NULL THEN NULL ELSE
            json_build_object('username', u.username, 'display_name', u.display_name) END,
        'note', e.note,
        'reason', e.reason,
        'location', CASE WHEN e.reporter_crs IS NULL THEN NULL ELSE json_build_object(
            'lon', e.reporter_lon, 'lat', e.reporter_lat, 'crs', e.reporter_crs,
            'accuracy_m', e.reporter_accuracy_m,
            'wgs84', json_build_array(round(ST_X(e.reporter_geom)::numeric, 7),
                                      round(ST_Y(e.reporter_geom)::numeric, 7))) END,
        'distance_m', round(e.distance_m::numeric, 1),
        'flags', to_json(e.flags),
        'base_version', e.base_version,
        'review', CASE WHEN r.event_id IS NULL THEN NULL ELSE json_build_object(
            'decision', r.decision, 'reviewer', ru.username, 'reviewed_at', r.reviewed_at,
            'note', r.note) END,
        'counts', EXISTS (SELECT FROM counting_events c WHERE c.id = e.id),
        'photos', coalesce((
            SELECT json_agg(json_build_object(
                       'id', p.id,
                       'url', '/photos/' || p.id,
                       'thumbnail_url', '/photos/' || p.id || '/thumbnail',
                       'taken_at', p.taken_at,
                       'location', CASE WHEN p.geom IS NULL THEN NULL ELSE
                           json_build_object('lon', round(ST_X(p.geom)::numeric, 7),
                                             'lat', round(ST_Y(p.geom)::numeric, 7)) END,
                       'distance_m', round(ST_Distance(p.geom::geography,
                                                       a.geom::geography)::numeric, 1))
                       ORDER BY p.id)
              FROM event_photos ep JOIN photos p ON p.id = ep.photo_id
             WHERE ep.event_id = e.id), '[]'::json)
    )
"""

REPORT_FROM = """
      FROM asset_events e
      JOIN assets a ON a.id = e.asset_id
      JOIN stages s ON s.stage = e.stage
      LEFT JOIN users u ON u.id = e.reporter_id
      LEFT JOIN report_reviews r ON r.event_id = e.id
      LEFT JOIN users ru ON ru.id = r.reviewer_id
"""

SCOPE = "(CAST(:scope AS text[]) IS NULL OR a.county_adcode = ANY(:scope))"


def _scope(principal: Principal) -> list[str] | None:
    return None if principal.counties is None else sorted(principal.counties)


def report(session: Session, report_id: uuid.UUID) -> dict[str, Any]:
    """One report as JSON (a dict)."""
    body = session.execute(
        text(f"SELECT {REPORT_JSON} {REPORT_FROM} WHERE e.id = :id"), {"id": report_id}
    ).scalar_one_or_none()
    if body is None:
        raise NotFound(
            f"上报 {report_id} 不存在", f"No report with id {report_id}.", field="report_id"
        )
    return body


def _report_and_asset(personal: bool) -> str:
    # Run on the driver (gis.db.driver_rows): it answers every report.
    return f"""
        SELECT (SELECT {REPORT_JSON} {REPORT_FROM} WHERE e.id = %(report_id)s)::text AS report,
               (SELECT {features.asset_feature_sql(personal=personal)}
                  FROM assets a {features.ASSET_JOINS} WHERE a.id = %(asset_id)s)::text AS asset
    """


_REPORT_AND_ASSET = {personal: _report_and_asset(personal) for personal in (False, True)}


def report_and_asset(
    session: Session, report_id: uuid.UUID, asset_id: int, *, personal: bool
) -> tuple[str, str]:
    """A report and its asset's current state (with householders' personal fields only when
    ``personal``), as JSON texts, in one round trip: the answer to a report."""
    params = {"report_id": report_id, "asset_id": asset_id}
    row = db.driver_rows(session, _REPORT_AND_ASSET[personal], params)[0]
    return row.report, row.asset


def asset_history(
    session: Session, asset_id: int, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The reports of one asset, newest observation first (the caller checks access)."""
    return session.execute(
        text(
            f"""
            SELECT coalesce(json_agg(j ORDER BY observed_at DESC, received_at DESC), '[]'::json)
              FROM (SELECT {REPORT_JSON} AS j, e.observed_at, e.received_at {REPORT_FROM}
                     WHERE e.asset_id = :id
                     ORDER BY e.observed_at DESC, e.received_at DESC
                     LIMIT :limit OFFSET :offset) page
            """
        ),
        {"id": asset_id, "limit": limit, "offset": offset},
    ).scalar_one()


def report_list(
    session: Session,
    principal: Principal,
    *,
    flagged: bool,
    county: str | None,
    review: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Reports the principal may read, newest received first; ``flagged`` only doubtful ones,
    ``review`` one of pending / confirmed / rejected."""
    if county is not None:
        require_read(principal, county)
    clauses = [SCOPE]
    if flagged:
        clauses.append("e.flags <> '{}'")
    if county is not None:
        clauses.append("a.county_adcode = :county")
    if review == "pending":
        clauses.append("r.event_id IS NULL")
    elif review is not None:
        clauses.append("r.decision = :review")
    db.plan_each_time(session)  # a plan for each county and filter, see there
    return session.execute(
        text(
            f"""
            SELECT coalesce(json_agg(j ORDER BY received_at DESC, id), '[]'::json)
              FROM (SELECT {REPORT_JSON} AS j, e.received_at, e.id {REPORT_FROM}
                     WHERE {" AND ".join(clauses)}
                     ORDER BY e.received_at DESC, e.id
                     LIMIT :limit OFFSET :offset) page
            """
        ),
        {
            "scope": _scope(principal),
            "county": county,
            "review": review,
            "limit": limit,
            "offset": offset,
        },
    ).scalar_one()
