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
- lines and polygons (roads, levees, ...): below ``LINES_CLUSTER_BELOW_ZOOM`` they are counted
  with the points at a point on them (``ST_PointOnSurface``), so that a city view of 26,000
  roads is a few dozen counted markers per tile instead of megabytes of lines, and each is
  still counted once (in the tile of that point); a cell holding one is that asset, drawn whole
  (clipped to the tile). From ``LINES_CLUSTER_BELOW_ZOOM`` each is drawn whole: ``ST_AsMVTGeom``
  clips them and snaps them to the tile's grid; one smaller than a tile pixel becomes a point on
  it, still one feature.

Three ways to the same tile:

- today (``china_today()``) below ``CLUSTER_BELOW_ZOOM``: the points come from ``tile_cells``
  (migration 0006, kept by triggers on ``assets``), the rows of the smallest stored level of
  ``CELL_LEVELS`` at least as fine as the tile's grid summed into it, with each row's status
  from today's rules; a cell of one asset is read by its id (the sum of ids of one). Assets are
  in their current state (``assets.stage``). A few milliseconds at a million houses.
- an earlier day below ``CLUSTER_BELOW_ZOOM``, for a layer of points only (houses): the same
  stored cells, with the assets in the tile whose newest counting report was observed after
  the day moved back to their stage on the day (``_MOVED_ROWS``). Its time grows with the
  assets reported since the day: at a million houses the densest z10 tile as of 2022-03-01
  (7,000 of its 300,000 houses reported since) takes 0.2 s instead of 1.9 s live; as of the
  first weeks after the flood, when nearly every house has been reported since, about as long
  as live (2.4 s).
- any other earlier day (layers with lines), and every zoom from ``CLUSTER_BELOW_ZOOM``: one
  live query over the assets in the tile with their state on the day. It grows with the
  assets in the tile (README, "Vector tiles").

Both put a point in the cell ``tile_cell_x``/``tile_cell_y`` (migration 0006) give it, so they
agree to the asset on cell edges too. Householders' personal fields are never read here.
"""

import datetime as dt
from dataclasses import dataclass
from functools import cache

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from gis.access import Principal
from gis.asset_status import ASSET_STATUSES, asset_status_sql
from gis.crs import STORAGE_SRID
from gis.errors import InvalidInput, NotFound
from gis.progress import SCOPE, china_today, in_scope, scope_params, state_as_of
from gis.vocab import KINDS, LAYERS, ROAD_BATCHES, STAGE_ORDER

MAX_ZOOM = 22  # Leaflet's and MapLibre's deepest zoom: a pixel is 3 cm at Xinxiang's latitude
EXTENT = 4096  # tile coordinates per side (the MVT default)
BUFFER = 256  # tile coordinates drawn beyond each edge, so that lines join across tiles
# At z16 a pixel is about 2 m at Xinxiang's latitude and houses in a village, 10-30 m apart,
# stand 5-15 px apart: from there every asset is drawn on its own. Below, markers would overlap.
CLUSTER_BELOW_ZOOM = 16
# At z12 a pixel is about 30 m here: a village road (0.5-3 km) is 15-100 px long, and a tile
# (8 km a side) holds a few hundred roads at a million houses' scale. Below, a tile holds
# thousands (800 KB of lines at z9): lines are counted like points there.
LINES_CLUSTER_BELOW_ZOOM = 12
# 8 x 8 cells of 32 px per 256 px tile: room for a marker with a five-digit count in each.
CLUSTER_GRID = 8
GRID_BITS = CLUSTER_GRID.bit_length() - 1  # 3: a tile at zoom z has the cells of level z + 3
# The levels stored in tile_cells (migration 0008 writes the same in tile_cell_levels(); a test
# compares): a tile at zoom z sums the cells of the smallest one >= z + GRID_BITS.
CELL_LEVELS = (10, 13, 15, 17, 18)

# Worst first: a cluster's status is the first of these found inside it.
WORST_FIRST = ("overdue", "pending", "none", "done")

_AS_OF = state_as_of("cutoff", "past")

# Status and earliest unreached due date of every (kind, batch, stage) of the layer: assets join
# this small table instead of evaluating the rules row by row. Batch 0 stands for "none";
# ``:batches`` holds the layer's (``batch_keys``).
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
      FROM (SELECT k.layer, k.kind, NULLIF(b.batch_key, 0) AS batch, b.batch_key, s.stage
              FROM asset_kinds k
             CROSS JOIN stages s
             CROSS JOIN unnest(CAST(:batches AS smallint[])) b(batch_key)
             WHERE k.layer = :layer) t
"""

# Clauses added only when the filter is asked for (``i`` is an asset with its state on the day,
# or a row of tile_cells; ``s`` its standing).
_FILTERS = {
    "kind": "i.kind = :kind",
    "stage": "i.stage = :stage",
    "status": "s.status = :status",
}

_HEAD = """
    WITH tile AS (
        SELECT ST_TileEnvelope(:z, :x, :y) AS env,
               ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), {srid}) AS search
    ), standing AS MATERIALIZED ({standing}
    )"""
# (MATERIALIZED: referenced once, as in the live tile, the planner inlined it and evaluated the
# rules once per asset instead of once per kind, batch and stage: 200 of 275 ms of a past z14.)

# The features of a tile from ``cells`` (cx, cy, n, n_done ... n_none, mx, my: the tile's grid
# cells, Web Mercator) and ``singles`` (assets with their state, ``merc`` in Web Mercator).
_FEATURES = """
    , features AS (
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
          FROM singles r CROSS JOIN tile
    )
    SELECT ST_AsMVT(f, :layer, {extent}, 'geom', 'fid') FROM features f WHERE f.geom IS NOT NULL
"""

# Assets ``a`` with their state on the day (``_AS_OF``), as rows of ``singles``'s columns and
# their batch key.
_ASSETS_AS_OF = f"""
        SELECT a.id, a.code, a.kind, a.village, a.county_adcode, coalesce(a.batch, 0) AS batch_key,
               {_AS_OF.stage} AS stage, {_AS_OF.percent} AS percent,
               {_AS_OF.observed} AS observed, ST_Transform(a.geom, 3857) AS merc
          FROM assets a
          {_AS_OF.join}"""

# The columns of a single asset in ``singles``.
_SINGLE = "id, code, kind, stage, percent, status, village, county_adcode, observed, due_on, merc"

# Every asset in the tile with its state on the day, counted on the grid (any day).
_LIVE = """
    , inside AS MATERIALIZED (
        -- each asset's state on the day looked up once (inlined, the planner joined the
        -- standing table first and looked the state up once per candidate row: five times)
{assets}
         CROSS JOIN tile
         WHERE a.layer = :layer AND a.geom && tile.search AND {scope}
    ), rated AS (
        SELECT i.*, s.status, s.due_on
          FROM inside i
          JOIN standing s ON s.kind = i.kind AND s.batch_key = i.batch_key AND s.stage = i.stage
         WHERE {filters}
    ), points AS (
        -- the cell of each point in the grid of tile_cells (migration 0006), so that a point
        -- lies in one tile only and the live tiles count exactly as the stored cells do. ST_X
        -- only on points: the planner may test the cell before the dimension.
        SELECT r.*, tile_cell_x(ST_X(r.point), :level) - CAST(:col0 AS integer) AS cx,
               tile_cell_y(ST_Y(r.point), :level) - CAST(:row0 AS integer) AS cy
          FROM (SELECT r.*,
                       CASE WHEN ST_Dimension(r.merc) = 0 THEN r.merc
                            WHEN :lines_clustered THEN ST_PointOnSurface(r.merc) END AS point
                  FROM rated r) r
         WHERE r.point IS NOT NULL
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
               avg(ST_X(p.point)) AS mx, avg(ST_Y(p.point)) AS my
          FROM counted p
         WHERE :clustered
         GROUP BY p.cx, p.cy
    ), singles AS (
        SELECT {single} FROM counted WHERE in_cell = 1 OR NOT :clustered
        UNION ALL
        SELECT {single} FROM rated WHERE ST_Dimension(merc) > 0 AND NOT :lines_clustered
    )"""

# Assets in their current state (assets.stage, kept by reports and reviews), as ``singles``.
_CURRENT = """
        SELECT i.id, i.code, i.kind, i.stage, i.percent, s.status, i.village, i.county_adcode,
               i.stage_observed_at AS observed, s.due_on, ST_Transform(i.geom, 3857) AS merc
          FROM assets i
          JOIN standing s ON s.kind = i.kind AND s.batch_key = coalesce(i.batch, 0)
               AND s.stage = i.stage"""

# Today's tile below CLUSTER_BELOW_ZOOM from tile_cells (migrations 0006, 0008): the stored
# cells of level :stored in the tile (one index range per column: cx = ANY keeps to the key's
# order even before the table has statistics), each row with the status of its (kind, batch,
# stage) under today's rules, then summed into the tile's grid of level :level. In a grid cell
# holding one asset the sum of ids is that asset's id: it is read by its key.
_STORED = """
    , stored AS MATERIALIZED (
        -- the status looked up once per row (materialized: cells counts it four times), in
        -- the standing table made a map: joined, the planner expecting one stored row took a
        -- nested loop, which cost milliseconds for the thousand rows of a dense tile
        SELECT s.* FROM (
            SELECT (i.cx >> :shift) - CAST(:col0 AS integer) AS cx,
                   (i.cy >> :shift) - CAST(:row0 AS integer) AS cy,
                   (SELECT jsonb_object_agg(concat_ws('|', kind, batch_key, stage), status)
                      FROM standing) ->> concat_ws('|', i.kind, i.batch_key, i.stage) AS status,
                   i.n, i.sum_x, i.sum_y, i.sum_id
              FROM ({rows}) i
             WHERE {cell_filters}
        ) s
         WHERE {status_filter}
        {line_cells}
    ), cells AS (
        SELECT cx, cy, CAST(sum(n) AS integer) AS n,
               CAST(coalesce(sum(n) FILTER (WHERE status = 'done'), 0) AS integer) AS n_done,
               CAST(coalesce(sum(n) FILTER (WHERE status = 'pending'), 0) AS integer)
                   AS n_pending,
               CAST(coalesce(sum(n) FILTER (WHERE status = 'overdue'), 0) AS integer)
                   AS n_overdue,
               CAST(coalesce(sum(n) FILTER (WHERE status = 'none'), 0) AS integer) AS n_none,
               CAST(sum(sum_x) / sum(n) AS float8) AS mx,
               CAST(sum(sum_y) / sum(n) AS float8) AS my,
               CAST(sum(sum_id) AS bigint) AS sum_id
          FROM stored
         WHERE cx >= 0 AND cx < :grid AND cy >= 0 AND cy < :grid
         GROUP BY cx, cy
        HAVING sum(n) > 0
    ), singles AS ({singles}
        {lines}
    )"""

# The stored cells' rows of level :stored in the tile (``_STORED``'s rows, today).
_CELL_ROWS = """
            SELECT i.cx, i.cy, i.kind, i.batch_key, i.stage, i.n, i.sum_x, i.sum_y, i.sum_id
              FROM tile_cells i
             WHERE i.layer = :layer AND i.level = :stored
               AND i.cx = ANY(CAST(:columns AS integer[]))
               AND i.cy BETWEEN :cy0 AND :cy1 AND {scope}"""

# An earlier day from the same rows: the cells hold each asset in its current stage, which is
# its stage on the day unless a counting report was observed after the day's end. Those
# assets, found in the tile (their geometry index, and stage_observed_at on each row), move
# back: -1 (and minus their position and id) in their current stage, +1 in their stage on the
# day, in the cell tile_cells_of puts them. Everything summed is linear, so the cells come out
# as if counted on the day. At a million houses, on 2022-03-01, 7,000 of the 300,000 houses of
# the densest z10 tile had moved since.
_MOVED_ROWS = """{cells}
            UNION ALL
            SELECT c.cx, c.cy, m.kind, m.batch_key, v.stage, v.n, v.n * c.x, v.n * c.y,
                   v.n * m.id
              FROM moved m
             CROSS JOIN LATERAL (VALUES (-1, m.now), (1, m.then)) v(n, stage)
             CROSS JOIN LATERAL tile_cells_of(m.geom) c
             WHERE c.level = :stored"""

_MOVED = """
    , moved AS MATERIALIZED (
        SELECT a.id, a.kind, coalesce(a.batch, 0) AS batch_key, a.geom, a.stage AS now,
               {stage} AS then
          FROM assets a
          {join}
         CROSS JOIN tile
         WHERE a.layer = :layer AND a.geom && tile.search AND a.stage_observed_at >= :cutoff
           AND ST_Dimension(a.geom) = 0 AND {scope}
    )"""

# A cell's one asset read by its id, in its current state (today) or its state on the day.
_CURRENT_SINGLES = """{current}
          JOIN cells c ON c.sum_id = i.id AND c.n = 1"""
_PAST_SINGLES = """
        SELECT i.id, i.code, i.kind, i.stage, i.percent, s.status, i.village, i.county_adcode,
               i.observed, s.due_on, i.merc
          FROM cells c
         CROSS JOIN LATERAL ({assets}
             WHERE a.id = c.sum_id) i
          JOIN standing s ON s.kind = i.kind AND s.batch_key = i.batch_key AND s.stage = i.stage
         WHERE c.n = 1"""

# Lines and polygons counted in the stored-cells tile below LINES_CLUSTER_BELOW_ZOOM, read live
# (they are not in tile_cells) and put in the tile's grid at a point on them, as the live tile
# does; those whose point lies outside the tile are counted in another tile.
_LINE_CELLS = """
        UNION ALL
        SELECT tile_cell_x(ST_X(p.point), :level) - CAST(:col0 AS integer),
               tile_cell_y(ST_Y(p.point), :level) - CAST(:row0 AS integer),
               s.status, 1, CAST(round(ST_X(p.point)) AS bigint),
               CAST(round(ST_Y(p.point)) AS bigint), i.id
          FROM assets i
          JOIN standing s ON s.kind = i.kind AND s.batch_key = coalesce(i.batch, 0)
               AND s.stage = i.stage
         CROSS JOIN tile
         CROSS JOIN LATERAL (SELECT ST_PointOnSurface(ST_Transform(i.geom, 3857)) AS point) p
         WHERE i.layer = :layer AND i.geom && tile.search AND ST_Dimension(i.geom) > 0
           AND {scope} AND {filters}"""

# Lines and polygons of a layer that has them, in the stored-cells tile from
# LINES_CLUSTER_BELOW_ZOOM: each drawn whole.
_CURRENT_LINES = """
        UNION ALL{current}
         CROSS JOIN tile
         WHERE i.layer = :layer AND i.geom && tile.search AND ST_Dimension(i.geom) > 0
           AND {scope} AND {filters}"""


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


def tile_sql(
    *,
    stored: bool,
    past: bool = False,
    lines: bool = True,
    lines_clustered: bool = False,
    kind: bool,
    stage: bool,
    status: bool,
) -> str:
    """The tile query: from the stored cells (below ``CLUSTER_BELOW_ZOOM``; with the layer's
    lines and polygons when it may have some, counted in the grid when ``lines_clustered``, else
    drawn whole; an earlier day when ``past``, for a layer of points only) or live, with a
    clause for each filter asked for."""
    if past and (not stored or lines):
        raise ValueError("an earlier day from the stored cells: points only")
    wanted = {"kind": kind, "stage": stage, "status": status}
    filters = " AND ".join(c for name, c in _FILTERS.items() if wanted[name]) or "true"
    cell_filters = " AND ".join(
        c for name, c in _FILTERS.items() if wanted[name] and name != "status"
    )
    if stored:
        cells_scope = in_scope("i")
        lines_sql = _CURRENT_LINES.format(current=_CURRENT, scope=cells_scope, filters=filters)
        line_cells = _LINE_CELLS.format(scope=cells_scope, filters=filters)
        rows = _CELL_ROWS.format(scope=cells_scope)
        body = _STORED.format(
            rows=_MOVED_ROWS.format(cells=rows) if past else rows,
            cell_filters=cell_filters or "true",
            status_filter=_FILTERS["status"] if status else "true",
            singles=(
                _PAST_SINGLES.format(assets=_ASSETS_AS_OF)
                if past
                else _CURRENT_SINGLES.format(current=_CURRENT)
            ),
            lines=lines_sql if lines and not lines_clustered else "",
            line_cells=line_cells if lines and lines_clustered else "",
        )
        if past:
            body = _MOVED.format(scope=SCOPE, stage=_AS_OF.stage, join=_AS_OF.join) + body
    else:
        body = _LIVE.format(
            assets=_ASSETS_AS_OF,
            scope=SCOPE,
            filters=filters,
            single=_SINGLE,
        )
    head = _HEAD.format(srid=STORAGE_SRID, standing=_STANDING)
    return head + body + _FEATURES.format(extent=EXTENT, buffer=BUFFER)


def batch_keys(layer: str) -> list[int]:
    """The batch keys assets of ``layer`` can have: roads belong to a batch, nothing else does
    (0; the check ``assets_batch_roads_only`` of migration 0001)."""
    return list(ROAD_BATCHES) if layer == "roads" else [0]


@cache
def _statement(**options: bool) -> TextClause:
    """``tile_sql(**options)`` parsed once (SQLAlchemy scans a text for its parameters each time
    it is built)."""
    return text(tile_sql(**options))


# A tile's plan made for one tile's parameters is no better than the plan for any tile's, and
# planning the query cost more than running it (1.2 of 3.9 ms for a dense z14 tile at a million
# houses): psycopg prepares a statement run five times on a connection, and this makes
# PostgreSQL keep one plan for it instead of planning each tile anew. LOCAL: for the rest of
# this transaction only (a tile request runs nothing else after it).
_GENERIC_PLAN = text("SET LOCAL plan_cache_mode = force_generic_plan")


def grid_of(z: int, x: int, y: int) -> dict[str, int]:
    """The grid of tile (z, x, y): its cells are those of ``level`` (see migration 0006), from
    column ``col0`` and row ``row0``."""
    return {"level": z + GRID_BITS, "col0": x * CLUSTER_GRID, "row0": y * CLUSTER_GRID}


def cell_window(z: int, x: int, y: int) -> dict[str, int]:
    """The grid of tile (z, x, y) in tile_cells: the stored level read (``stored``, the
    smallest of ``CELL_LEVELS`` at least as fine as the grid's), the ``shift`` from one to the
    other, and the stored ``columns`` and rows ``cy0``..``cy1`` inside the tile."""
    level = z + GRID_BITS
    stored = next(lv for lv in CELL_LEVELS if lv >= level)
    shift = stored - level
    side = CLUSTER_GRID << shift
    return {
        "stored": stored,
        "shift": shift,
        "columns": list(range(x * side, (x + 1) * side)),
        "cy0": y * side,
        "cy1": (y + 1) * side - 1,
    }


def tile(
    session: Session,
    *,
    principal: Principal,
    request: TileRequest,
    today: dt.date | None = None,
    cells: bool = True,
) -> bytes:
    """The tile's bytes (a Mapbox vector tile; empty when nothing is in it) of the assets
    ``principal`` may read. ``cells=False`` always takes the live query (tests compare)."""
    check_tile(request)
    today = today or china_today()
    params = scope_params(
        session, principal, as_of=request.as_of, county=request.county, today=today
    )
    clustered = request.z < CLUSTER_BELOW_ZOOM
    lines = set(LAYERS[request.layer].geometry_types) != {"Point"}
    # today from the cells; an earlier day too for a layer of points (houses), moving back the
    # assets reported since; lines and polygons of an earlier day are read live
    stored = cells and clustered and (request.as_of == today or not lines)
    lines_clustered = request.z < LINES_CLUSTER_BELOW_ZOOM
    statement = _statement(
        stored=stored,
        past=stored and request.as_of != today,
        lines=lines,
        lines_clustered=lines_clustered,
        kind=request.kind is not None,
        stage=request.stage is not None,
        status=request.status is not None,
    )
    window = cell_window(request.z, request.x, request.y) if stored else {}
    session.execute(_GENERIC_PLAN)
    body = session.execute(
        statement,
        {
            **params,
            **grid_of(request.z, request.x, request.y),
            **window,
            "day": request.as_of,
            "layer": request.layer,
            "z": request.z,
            "x": request.x,
            "y": request.y,
            "margin": BUFFER / EXTENT,
            "grid": CLUSTER_GRID,
            "clustered": clustered,
            "lines_clustered": lines_clustered,
            "batches": batch_keys(request.layer),
            "kind": request.kind,
            "stage": request.stage,
            "status": request.status,
        },
    ).scalar_one()
    return bytes(body or b"")
