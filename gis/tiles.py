"""Mapbox vector tiles of a layer as of a day, built by PostGIS (``ST_AsMVT``).

Tiles are XYZ tiles of Web Mercator (EPSG:3857, ``ST_TileEnvelope``); assets are stored in
``STORAGE_SRID`` and found through its geometry index with the tile's envelope transformed to
that SRID, so only the assets in the tile are ever transformed. One MVT layer per tile, named
after the asset layer. Its features (the contract the browser map is built on):

- a single asset: ``id``, ``code``, ``kind``, ``stage``, ``percent``, ``status``
  (``gis/asset_status.py``), ``village``, ``county`` (adcode), ``last_report`` and ``due_on``
  (YYYY-MM-DD, absent when there is none); the MVT feature id is the asset id too.
- below ``CLUSTER_BELOW_ZOOM``, points are counted on a grid of ``CLUSTER_GRID`` x
  ``CLUSTER_GRID`` cells per tile: a cell holding two or more assets is one point at their mean
  position with ``n``, ``n_done``, ``n_pending``, ``n_overdue``, ``n_none`` and ``status``, the
  worst inside (overdue > pending > none > done), and no ``id``; a cell holding one asset is
  that asset. Every point lies in exactly one cell of one tile (cells are half-open), so the
  counts of a tile add up to the assets in it.
- lines and polygons (roads, levees, ...) are never clustered: ``ST_AsMVTGeom`` clips them and
  snaps them to the tile's grid; one smaller than a tile pixel becomes a point on it, still one
  feature.

Householders' personal fields are never read here.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.access import Principal
from gis.asset_status import ASSET_STATUSES, asset_status_sql
from gis.crs import STORAGE_SRID
from gis.errors import InvalidInput, NotFound
from gis.progress import SCOPE, scope_params, state_as_of
from gis.vocab import KINDS, LAYERS, ROAD_BATCHES, STAGE_ORDER

MAX_ZOOM = 22  # Leaflet's and MapLibre's deepest zoom: a pixel is 3 cm at Xinxiang's latitude
EXTENT = 4096  # tile coordinates per side (the MVT default)
BUFFER = 256  # tile coordinates drawn beyond each edge, so that lines join across tiles
# At z16 a pixel is about 2 m at Xinxiang's latitude and houses in a village, 10-30 m apart,
# stand 5-15 px apart: from there every asset is drawn on its own. Below, markers would overlap.
CLUSTER_BELOW_ZOOM = 16
# 8 x 8 cells of 32 px per 256 px tile: room for a marker with a five-digit count in each.
CLUSTER_GRID = 8

# Worst first: a cluster's status is the first of these found inside it.
WORST_FIRST = ("overdue", "pending", "none", "done")

_AS_OF = state_as_of("cutoff", "past")

# Status and earliest unreached due date of every (kind, batch, stage) of the layer: assets join
# this small table instead of evaluating the rules row by row. Batch 0 stands for "none".
_STANDING = f"""
    SELECT t.kind, t.batch_key, t.stage,
           {asset_status_sql("t.stage", "day", alias="t")} AS status,
           (SELECT min(d.due_on)
              FROM deadline_dates d
              JOIN stages need ON need.stage = d.stage
              JOIN stages have ON have.stage = t.stage
             WHERE d.layer = t.layer
               AND (d.kind IS NULL OR d.kind = t.kind)
               AND (d.batch IS NULL OR d.batch = t.batch)
               AND have.ordinal < need.ordinal) AS due_on
      FROM (SELECT k.layer, k.kind, b.batch, coalesce(b.batch, 0) AS batch_key, s.stage
              FROM asset_kinds k
             CROSS JOIN stages s
             CROSS JOIN (SELECT CAST(NULL AS smallint)
                         UNION ALL SELECT unnest(CAST(:batches AS smallint[]))) b(batch)
             WHERE k.layer = :layer) t
"""

# Clauses added only when the filter is asked for (``i`` is an asset with its state on the day).
_FILTERS = {
    "kind": "i.kind = :kind",
    "stage": "i.stage = :stage",
    "status": "s.status = :status",
}

_TILE = """
    WITH tile AS (
        SELECT ST_TileEnvelope(:z, :x, :y) AS env,
               ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), {srid}) AS search,
               (ST_XMax(ST_TileEnvelope(:z, :x, :y)) - ST_XMin(ST_TileEnvelope(:z, :x, :y)))
                   / :grid AS cell
    ), standing AS ({standing}
    ), inside AS (
        SELECT a.id, a.code, a.kind, a.village, a.county_adcode, coalesce(a.batch, 0) AS batch_key,
               {stage} AS stage, {percent} AS percent, {observed} AS observed,
               ST_Transform(a.geom, 3857) AS merc
          FROM assets a
          {join}
         CROSS JOIN tile
         WHERE a.layer = :layer AND a.geom && tile.search AND {scope}
    ), rated AS (
        SELECT i.*, s.status, s.due_on
          FROM inside i
          JOIN standing s ON s.kind = i.kind AND s.batch_key = i.batch_key AND s.stage = i.stage
         WHERE {filters}
    ), points AS (
        -- the cell of each point; half-open cells, so that a point lies in one tile only
        SELECT r.*, floor((ST_X(r.merc) - ST_XMin(tile.env)) / tile.cell) AS cx,
               floor((ST_YMax(tile.env) - ST_Y(r.merc)) / tile.cell) AS cy
          FROM rated r CROSS JOIN tile
         WHERE ST_Dimension(r.merc) = 0
    ), counted AS (
        SELECT p.*, count(*) OVER (PARTITION BY p.cx, p.cy) AS in_cell
          FROM points p
         WHERE p.cx >= 0 AND p.cx < :grid AND p.cy >= 0 AND p.cy < :grid
    ), cells AS (
        SELECT p.cx, p.cy, count(*) AS n,
               count(*) FILTER (WHERE p.status = 'done') AS n_done,
               count(*) FILTER (WHERE p.status = 'pending') AS n_pending,
               count(*) FILTER (WHERE p.status = 'overdue') AS n_overdue,
               count(*) FILTER (WHERE p.status = 'none') AS n_none,
               avg(ST_X(p.merc)) AS mx, avg(ST_Y(p.merc)) AS my
          FROM counted p
         WHERE :clustered
         GROUP BY p.cx, p.cy
    ), features AS (
        SELECT NULL AS fid, NULL AS id, NULL AS code, NULL AS kind, NULL AS stage,
               NULL AS percent,
               CASE WHEN n_overdue > 0 THEN 'overdue' WHEN n_pending > 0 THEN 'pending'
                    WHEN n_none > 0 THEN 'none' ELSE 'done' END AS status,
               NULL AS village, NULL AS county, NULL AS last_report, NULL AS due_on,
               n, n_done, n_pending, n_overdue, n_none,
               ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(mx, my), 3857), tile.env, {extent}, {buffer})
                   AS geom
          FROM cells CROSS JOIN tile
         WHERE n > 1
        UNION ALL
        SELECT r.id, r.id, r.code, r.kind, r.stage, r.percent, r.status, r.village,
               r.county_adcode,
               to_char(r.observed AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),
               to_char(r.due_on, 'YYYY-MM-DD'),
               NULL, NULL, NULL, NULL, NULL,
               coalesce(ST_AsMVTGeom(r.merc, tile.env, {extent}, {buffer}),
                        ST_AsMVTGeom(ST_PointOnSurface(r.merc), tile.env, {extent}, {buffer}))
          FROM (SELECT id, code, kind, stage, percent, status, village, county_adcode, observed,
                       due_on, merc
                  FROM counted
                 WHERE in_cell = 1 OR NOT :clustered
                UNION ALL
                SELECT id, code, kind, stage, percent, status, village, county_adcode, observed,
                       due_on, merc
                  FROM rated
                 WHERE ST_Dimension(merc) > 0) r  -- lines and polygons: never clustered
         CROSS JOIN tile
    )
    SELECT ST_AsMVT(f, :layer, {extent}, 'geom', 'fid') FROM features f WHERE f.geom IS NOT NULL
"""


@dataclass(frozen=True)
class TileRequest:
    """A tile of ``layer`` at zoom ``z``, column ``x``, row ``y`` (XYZ, EPSG:3857), with the
    assets' state as of ``as_of`` and optional filters."""

    layer: str
    z: int
    x: int
    y: int
    as_of: dt.date
    county: str | None = None
    kind: str | None = None
    stage: str | None = None
    status: str | None = None


def check_tile(request: TileRequest) -> None:
    """Raise NotFound for an unknown layer, InvalidInput for coordinates or filters out of range."""
    if request.layer not in LAYERS:
        raise NotFound(
            f"图层 {request.layer!r} 不存在，可选：{'、'.join(LAYERS)}",
            f"Unknown layer {request.layer!r}; use one of {', '.join(LAYERS)}.",
            field="layer",
        )
    if not 0 <= request.z <= MAX_ZOOM:
        raise InvalidInput(
            f"缩放级别 z={request.z} 超出范围，应为 0 到 {MAX_ZOOM}",
            f"Zoom z={request.z} is out of range; use 0 to {MAX_ZOOM}.",
            field="z",
        )
    last = 2**request.z - 1
    for name, value in (("x", request.x), ("y", request.y)):
        if not 0 <= value <= last:
            raise InvalidInput(
                f"瓦片坐标 {name}={value} 超出范围：缩放级别 {request.z} 时应为 0 到 {last}",
                f"Tile {name}={value} is out of range: at zoom {request.z} use 0 to {last}.",
                field=name,
            )
    kinds = tuple(t.key for t in KINDS[request.layer])
    choices = {"kind": kinds, "stage": tuple(STAGE_ORDER), "status": ASSET_STATUSES}
    for name, allowed in choices.items():
        value = getattr(request, name)
        if value is not None and value not in allowed:
            raise InvalidInput(
                f"{name}={value!r} 无效，可选：{'、'.join(allowed)}",
                f"Unknown {name} {value!r}; use one of {', '.join(allowed)}.",
                field=name,
            )


def tile_sql(*, kind: bool, stage: bool, status: bool) -> str:
    """The tile query, with a clause for each filter asked for."""
    wanted = {"kind": kind, "stage": stage, "status": status}
    asked = [clause for name, clause in _FILTERS.items() if wanted[name]]
    return _TILE.format(
        srid=STORAGE_SRID,
        standing=_STANDING,
        stage=_AS_OF.stage,
        percent=_AS_OF.percent,
        observed=_AS_OF.observed,
        join=_AS_OF.join,
        scope=SCOPE,
        filters=" AND ".join(asked) or "true",
        extent=EXTENT,
        buffer=BUFFER,
    )


def tile(
    session: Session, *, principal: Principal, request: TileRequest, today: dt.date | None = None
) -> bytes:
    """The tile's bytes (a Mapbox vector tile; empty when nothing is in it) of the assets
    ``principal`` may read."""
    check_tile(request)
    params = scope_params(
        session, principal, as_of=request.as_of, county=request.county, today=today
    )
    sql = tile_sql(
        kind=request.kind is not None,
        stage=request.stage is not None,
        status=request.status is not None,
    )
    body = session.execute(
        text(sql),
        {
            **params,
            "day": request.as_of,
            "layer": request.layer,
            "z": request.z,
            "x": request.x,
            "y": request.y,
            "margin": BUFFER / EXTENT,
            "grid": CLUSTER_GRID,
            "clustered": request.z < CLUSTER_BELOW_ZOOM,
            "batches": list(ROAD_BATCHES),
            "kind": request.kind,
            "stage": request.stage,
            "status": request.status,
        },
    ).scalar_one()
    return bytes(body or b"")
