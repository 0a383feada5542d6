"""Tile cells: point assets counted per cell of Web Mercator grids, kept by triggers.

Today's low-zoom vector tiles sum a few hundred rows of this table instead of reading every
asset in the tile (at a million houses the densest z10 tile read 250,000 of them).

A cell of level L is one of the 2^L x 2^L squares of Web Mercator (EPSG:3857), numbered from the
top-left like XYZ tiles: for a point (x, y) in metres, with u = (x + H) / 2H and
v = (H - y) / 2H (H = 20037508.342789244, half the world), the cell is
(floor(u * 2^L), floor(v * 2^L)). Multiplying by a power of two is exact in floating point, so
the cell of a coarser level L - k is exactly the finer cell shifted right by k bits: cells nest,
and a tile at zoom z with its 8 x 8 grid is made of the cells of level z + 3, whose counts are
sums of the stored cells of any level >= z + 3.

``tile_cells`` holds, for every stored level, the point assets (ST_Dimension 0: houses, point
water works; lines and polygons are never grouped) per cell and (county, kind, batch, stage),
with their number, the sums of their x and y (metres, each rounded to the metre: integers add
and subtract exactly, so the table never drifts) and the sum of their ids, which names the asset
of a cell holding one (the tiles send it as itself). Only an asset's current state matters
(``assets.stage``, which reports and reviews keep), so triggers on ``assets`` alone keep it:
an insert adds, a delete takes away, an update moves the assets whose layer, county, kind,
batch, stage or position changed. Rows that reach zero are deleted. ``tile_cells_rebuild()``
recomputes the table from scratch (after a bulk load; and tests compare).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- The stored levels: a tile at zoom z reads the smallest one >= z + 3 (z < 16), so a tile's
-- 8 x 8 cells each sum at most 4 x 4 stored cells.
CREATE FUNCTION tile_cell_levels() RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CAST('{10, 13, 15, 18}' AS integer[]) $$;

-- The column and row of the cell of level ``level`` holding Web Mercator x or y (metres).
CREATE FUNCTION tile_cell_x(x double precision, level integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CAST(floor((x + 20037508.342789244) / 40075016.685578488
                      * CAST(CAST(1 AS bigint) << level AS double precision)) AS integer)
$$;
CREATE FUNCTION tile_cell_y(y double precision, level integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CAST(floor((20037508.342789244 - y) / 40075016.685578488
                      * CAST(CAST(1 AS bigint) << level AS double precision)) AS integer)
$$;

CREATE TABLE tile_cells (
    layer         text NOT NULL,
    level         smallint NOT NULL,
    cx            integer NOT NULL,
    cy            integer NOT NULL,
    county_adcode text NOT NULL,
    kind          text NOT NULL,
    batch_key     smallint NOT NULL,  -- assets.batch, 0 for none
    stage         text NOT NULL,
    n             integer NOT NULL,
    sum_x         bigint NOT NULL,  -- Web Mercator metres, each asset's rounded
    sum_y         bigint NOT NULL,
    sum_id        bigint NOT NULL,  -- of one asset: its id
    CONSTRAINT tile_cells_pkey
        PRIMARY KEY (layer, level, cx, cy, county_adcode, kind, batch_key, stage)
);

-- The cell of a point asset at every stored level, with its position rounded to the metre
-- (nothing for lines and polygons). The geometry is transformed once.
CREATE FUNCTION tile_cells_of(geom geometry)
RETURNS TABLE (level smallint, cx integer, cy integer, x bigint, y bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CAST(l AS smallint), tile_cell_x(ST_X(p), l), tile_cell_y(ST_Y(p), l),
           CAST(round(ST_X(p)) AS bigint), CAST(round(ST_Y(p)) AS bigint)
      FROM ST_Transform(geom, 3857) p CROSS JOIN unnest(tile_cell_levels()) l
     WHERE ST_Dimension(geom) = 0
$$;

-- Add rows of changes into the cells, in key order so that concurrent writers lock the same
-- rows in the same order and never deadlock; then drop the rows left empty (this statement
-- holds their locks already).
CREATE FUNCTION tile_cells_merge(rows tile_cells[]) RETURNS void
LANGUAGE plpgsql
-- PL/pgSQL keeps the plans of these two statements for the connection (generic: the same
-- for every call), so that a report's trigger does not plan them again each time.
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    INSERT INTO tile_cells AS t
    SELECT * FROM unnest(rows) u
     ORDER BY u.layer, u.level, u.cx, u.cy, u.county_adcode, u.kind, u.batch_key, u.stage
        ON CONFLICT ON CONSTRAINT tile_cells_pkey DO UPDATE
       SET n = t.n + excluded.n, sum_x = t.sum_x + excluded.sum_x,
           sum_y = t.sum_y + excluded.sum_y, sum_id = t.sum_id + excluded.sum_id;
    DELETE FROM tile_cells t
     USING unnest(rows) u
     WHERE t.n = 0
       AND (t.layer, t.level, t.cx, t.cy, t.county_adcode, t.kind, t.batch_key, t.stage)
         = (u.layer, u.level, u.cx, u.cy, u.county_adcode, u.kind, u.batch_key, u.stage);
END $$;

-- New assets add to their cells, deleted ones take away, changed ones move: -1 where they
-- were and +1 where they are (nothing when layer, county, group, stage and position stay).
CREATE FUNCTION tile_cells_assets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tile_cells_merge(ARRAY(
            SELECT ROW(n.layer, c.level, c.cx, c.cy, n.county_adcode, n.kind,
                       coalesce(n.batch, 0), n.stage, count(*), sum(c.x), sum(c.y), sum(n.id)
                      )::tile_cells
              FROM new_assets n CROSS JOIN LATERAL tile_cells_of(n.geom) c
             GROUP BY n.layer, c.level, c.cx, c.cy, n.county_adcode, n.kind,
                      coalesce(n.batch, 0), n.stage));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM tile_cells_merge(ARRAY(
            SELECT ROW(o.layer, c.level, c.cx, c.cy, o.county_adcode, o.kind,
                       coalesce(o.batch, 0), o.stage, -count(*), -sum(c.x), -sum(c.y),
                       -sum(o.id))::tile_cells
              FROM old_assets o CROSS JOIN LATERAL tile_cells_of(o.geom) c
             GROUP BY o.layer, c.level, c.cx, c.cy, o.county_adcode, o.kind,
                      coalesce(o.batch, 0), o.stage));
    ELSE
        PERFORM tile_cells_merge(ARRAY(
            WITH changed AS (
                SELECT o.id FROM old_assets o JOIN new_assets n ON n.id = o.id
                 WHERE (o.layer, o.county_adcode, o.kind, o.batch, o.stage)
                       IS DISTINCT FROM (n.layer, n.county_adcode, n.kind, n.batch, n.stage)
                    OR NOT ST_OrderingEquals(o.geom, n.geom)
            ), moved AS (
                SELECT -1 AS sign, o.id, o.layer, o.county_adcode, o.kind, o.batch, o.stage,
                       o.geom
                  FROM old_assets o JOIN changed USING (id)
                UNION ALL
                SELECT 1, n.id, n.layer, n.county_adcode, n.kind, n.batch, n.stage, n.geom
                  FROM new_assets n JOIN changed USING (id)
            )
            SELECT ROW(m.layer, c.level, c.cx, c.cy, m.county_adcode, m.kind,
                       coalesce(m.batch, 0), m.stage, sum(m.sign), sum(m.sign * c.x),
                       sum(m.sign * c.y), sum(m.sign * m.id))::tile_cells
              FROM moved m CROSS JOIN LATERAL tile_cells_of(m.geom) c
             GROUP BY m.layer, c.level, c.cx, c.cy, m.county_adcode, m.kind,
                      coalesce(m.batch, 0), m.stage
            HAVING sum(m.sign) <> 0 OR sum(m.sign * c.x) <> 0 OR sum(m.sign * c.y) <> 0
                OR sum(m.sign * m.id) <> 0));
    END IF;
    RETURN NULL;
END $$;

-- Recompute every cell from the assets: the finest level from them, each coarser level from
-- the finest (cells nest exactly), which sorts far fewer rows than every level from the assets.
CREATE FUNCTION tile_cells_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM tile_cells;
    INSERT INTO tile_cells
    WITH finest AS MATERIALIZED (
        SELECT a.layer, c.level, c.cx, c.cy, a.county_adcode, a.kind,
               coalesce(a.batch, 0) AS batch_key, a.stage, count(*) AS n, sum(c.x) AS sum_x,
               sum(c.y) AS sum_y, sum(a.id) AS sum_id
          FROM assets a CROSS JOIN LATERAL tile_cells_of(a.geom) c
         WHERE c.level = (SELECT max(l) FROM unnest(tile_cell_levels()) l)
         GROUP BY a.layer, c.level, c.cx, c.cy, a.county_adcode, a.kind, coalesce(a.batch, 0),
                  a.stage
    )
    SELECT * FROM finest
    UNION ALL
    SELECT f.layer, l, f.cx >> (f.level - l), f.cy >> (f.level - l), f.county_adcode, f.kind,
           f.batch_key, f.stage, sum(f.n), sum(f.sum_x), sum(f.sum_y), sum(f.sum_id)
      FROM finest f CROSS JOIN unnest(tile_cell_levels()) l
     WHERE l < f.level
     GROUP BY f.layer, l, f.cx >> (f.level - l), f.cy >> (f.level - l), f.county_adcode, f.kind,
              f.batch_key, f.stage;
    -- without statistics the planner reads a tile's rows by cy alone (tens of times more)
    ANALYZE tile_cells;
$$;

CREATE FUNCTION tile_cells_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tile_cells;
    RETURN NULL;
END $$;

CREATE TRIGGER tile_cells_assets_insert AFTER INSERT ON assets
    REFERENCING NEW TABLE AS new_assets FOR EACH STATEMENT EXECUTE FUNCTION tile_cells_assets();
CREATE TRIGGER tile_cells_assets_update AFTER UPDATE ON assets
    REFERENCING OLD TABLE AS old_assets NEW TABLE AS new_assets
    FOR EACH STATEMENT EXECUTE FUNCTION tile_cells_assets();
CREATE TRIGGER tile_cells_assets_delete AFTER DELETE ON assets
    REFERENCING OLD TABLE AS old_assets FOR EACH STATEMENT EXECUTE FUNCTION tile_cells_assets();
CREATE TRIGGER tile_cells_assets_truncate AFTER TRUNCATE ON assets
    FOR EACH STATEMENT EXECUTE FUNCTION tile_cells_truncate();

SELECT tile_cells_rebuild();
"""

DOWNGRADE = """
DROP TRIGGER tile_cells_assets_insert ON assets;
DROP TRIGGER tile_cells_assets_update ON assets;
DROP TRIGGER tile_cells_assets_delete ON assets;
DROP TRIGGER tile_cells_assets_truncate ON assets;
DROP FUNCTION tile_cells_assets(), tile_cells_truncate(), tile_cells_rebuild(),
    tile_cells_merge(tile_cells[]), tile_cells_of(geometry);
DROP TABLE tile_cells;
DROP FUNCTION tile_cell_x(double precision, integer), tile_cell_y(double precision, integer),
    tile_cell_levels();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
