"""What the map pages draw, read from PostGIS: county boundaries, and a layer's assets with their
stage and deadline status on a day, built as GeoJSON in the database.

Coordinates are CRS84 (lon, lat) with 6 decimals (about 10 cm: plenty for a map, and a smaller
page). An asset carries the properties of the vector tiles (``/tiles/{layer}/...``) so that one
popup and one style serve both; they are public fields only (a subset of
``gis.queries.features.PUBLIC_PROPERTIES``: never a householder's name or phone).
"""

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.access import Principal
from gis.asset_status import ASSET_STATUSES, asset_status_sql
from gis.errors import InvalidInput, InvalidStage, NotFound
from gis.progress import SCOPE, scope_params, state_as_of
from gis.vocab import KINDS, LAYERS, STAGE_ORDER

MAP_DECIMALS = 6
BOUNDARY_TOLERANCE_DEG = 0.0005  # about 50 m: county outlines at city scale

# Never more than this many assets inline in a page or a file; above it pages draw vector
# tiles and `rebuild map` asks for a narrower choice.
INLINE_MAX = 2_000

ASSET_PROPERTIES = (
    "id",
    "code",
    "kind",
    "stage",
    "percent",
    "status",
    "village",
    "county",
    "last_report",
    "due_on",
)


@dataclass(frozen=True)
class AssetFilter:
    """What a layer map shows: a layer, a day, and optional county, kind, stage and status."""

    layer: str
    as_of: dt.date
    county: str | None = None
    kind: str | None = None
    stage: str | None = None
    status: str | None = None

    def query(self) -> dict[str, str]:
        """The filter as URL query parameters (the same names as the tile endpoint's)."""
        values = {"as_of": self.as_of.isoformat(), "county": self.county, "kind": self.kind}
        values |= {"stage": self.stage, "status": self.status}
        return {k: v for k, v in values.items() if v is not None}


def check_layer(layer: str) -> None:
    if layer not in LAYERS:
        raise NotFound(
            f"图层 {layer!r} 不存在，可选：{'、'.join(LAYERS)}",
            f"No layer {layer!r}; use one of {', '.join(LAYERS)}.",
            field="layer",
        )


def check_filter(flt: AssetFilter) -> None:
    """Raise a domain error naming the first value that is not one of the known ones."""
    check_layer(flt.layer)
    kinds = [t.key for t in KINDS[flt.layer]]
    if flt.kind is not None and flt.kind not in kinds:
        raise InvalidInput(
            f"类别 {flt.kind!r} 不属于图层 {flt.layer}，可选：{'、'.join(kinds)}",
            f"Kind {flt.kind!r} is not one of layer {flt.layer}'s: {', '.join(kinds)}.",
            field="kind",
        )
    if flt.stage is not None and flt.stage not in STAGE_ORDER:
        raise InvalidStage(
            f"阶段 {flt.stage!r} 不存在，可选：{'、'.join(STAGE_ORDER)}",
            f"Unknown stage {flt.stage!r}; use one of {', '.join(STAGE_ORDER)}.",
            field="stage",
        )
    if flt.status is not None and flt.status not in ASSET_STATUSES:
        raise InvalidInput(
            f"状态 {flt.status!r} 不存在，可选：{'、'.join(ASSET_STATUSES)}",
            f"Unknown status {flt.status!r}; use one of {', '.join(ASSET_STATUSES)}.",
            field="status",
        )


_BOUNDARIES = text(
    f"""
    SELECT coalesce(json_agg(json_build_object(
               'type', 'Feature',
               'id', c.adcode,
               'geometry', ST_AsGeoJSON(
                   ST_SimplifyPreserveTopology(c.geom, {BOUNDARY_TOLERANCE_DEG}), 5)::json,
               'properties', json_build_object('adcode', c.adcode, 'name_zh', c.name_zh,
                                               'name_en', c.name_en)
           ) ORDER BY c.adcode), '[]'::json)::text
      FROM counties c
     WHERE CAST(:scope AS text[]) IS NULL OR c.adcode = ANY(:scope)
    """
)


def county_boundaries(session: Session, *, principal: Principal) -> dict[str, Any]:
    """The boundaries of the counties ``principal`` may read, as a FeatureCollection."""
    scope = None if principal.counties is None else sorted(principal.counties)
    features = json.loads(session.execute(_BOUNDARIES, {"scope": scope}).scalar_one())
    return {"type": "FeatureCollection", "features": features}


def county_names(session: Session) -> dict[str, dict[str, str]]:
    """adcode -> {"zh": ..., "en": ...} of every loaded county."""
    rows = session.execute(text("SELECT adcode, name_zh, name_en FROM counties ORDER BY adcode"))
    return {r.adcode: {"zh": r.name_zh, "en": r.name_en} for r in rows}


_AS_OF = state_as_of("cutoff", "past")
_COUNT = text(
    f"""
    SELECT count(*) FROM assets a
     WHERE a.layer = :layer AND {SCOPE}
       AND (CAST(:kind AS text) IS NULL OR a.kind = :kind)
    """
)
# Due: the earliest due date of the rules the asset has not yet met on the day (none when it
# has met them all), as in the vector tiles (gis/tiles.py).
_ASSETS = text(
    f"""
    WITH on_day AS (
        SELECT a.id, a.code, a.layer, a.kind, a.batch, a.village, a.county_adcode, a.geom,
               {_AS_OF.stage} AS stage, {_AS_OF.percent} AS percent,
               {_AS_OF.observed} AS observed_at
          FROM assets a
          {_AS_OF.join}
         WHERE a.layer = :layer AND {SCOPE}
           AND (CAST(:kind AS text) IS NULL OR a.kind = :kind)
    ), rated AS (
        SELECT x.*, {asset_status_sql("x.stage", "day", alias="x")} AS status,
               (SELECT min(d.due_on)
                  FROM deadline_dates d
                  JOIN stages need ON need.stage = d.stage
                  JOIN stages have ON have.stage = x.stage
                 WHERE d.layer = x.layer AND (d.kind IS NULL OR d.kind = x.kind)
                   AND (d.batch IS NULL OR d.batch = x.batch)
                   AND have.ordinal < need.ordinal) AS due_on
          FROM on_day x
         WHERE CAST(:stage AS text) IS NULL OR x.stage = :stage
    )
    SELECT coalesce(json_agg(json_build_object(
               'type', 'Feature',
               'id', r.id,
               'geometry', ST_AsGeoJSON(r.geom, {MAP_DECIMALS})::json,
               'properties', json_build_object(
                   'id', r.id, 'code', r.code, 'kind', r.kind, 'stage', r.stage,
                   'percent', r.percent, 'status', r.status, 'village', r.village,
                   'county', r.county_adcode,
                   'last_report', to_char(r.observed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),
                   'due_on', r.due_on)
           ) ORDER BY r.status = 'overdue', r.id), '[]'::json)::text
      FROM rated r
     WHERE CAST(:status AS text) IS NULL OR r.status = :status
    """
)


def _params(session: Session, principal: Principal, flt: AssetFilter) -> dict[str, Any]:
    check_filter(flt)
    params = scope_params(session, principal, as_of=flt.as_of, county=flt.county)
    return {**params, "layer": flt.layer, "kind": flt.kind}


def asset_count(session: Session, *, principal: Principal, flt: AssetFilter) -> int:
    """How many assets of the layer (in the county and kind asked for) ``principal`` may read:
    what decides between inline features and vector tiles. Stage and status are left out: they
    need each asset's state on the day, which is what the bound is there to avoid."""
    return session.execute(_COUNT, _params(session, principal, flt)).scalar_one()


def asset_features(session: Session, *, principal: Principal, flt: AssetFilter) -> dict[str, Any]:
    """The assets matching ``flt`` as a FeatureCollection, overdue ones last (drawn on top)."""
    params = _params(session, principal, flt)
    params |= {"stage": flt.stage, "status": flt.status, "day": flt.as_of}
    features = json.loads(session.execute(_ASSETS, params).scalar_one())
    return {"type": "FeatureCollection", "features": features}
