"""Faster recounts of the progress tallies and the tile cells, for bulk loads (the demo, a large
import into an empty table), which turn the triggers off and call them once at the end.

``tally_rebuild()`` sums each asset's start in 未开工 straight from ``assets`` (grouped by
county and group) and joins only the counting events to their assets for the other steps,
instead of reading every step, starts included, from ``asset_steps(NULL, ...)`` (whose
``RETURN QUERY`` wrote three rows per house to a tuplestore before they were joined and
grouped): 8.8 -> 4.7 s for a million houses, the same tallies. The steps are those of migration
0005, counting the events as they count now.

``tile_cells_rebuild()`` sums each coarser level from the next finer one (18 -> 17 -> 15 -> 13
-> 10) instead of every coarser level from the finest: far fewer rows to group, the same cells
(they nest exactly, migration 0006), grouped by hashing rather than sorting: 2.0 -> 1.6 s for
200,000 houses, 7.0 -> 3.7 s for a million.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Written out, not imported: what this migration builds must not change with later code.
UPGRADE = r"""
-- Every tally from the assets and their counting events: each asset's start in 未开工 summed
-- per group, then for each counting report that changes the stage -1 in the stage before it
-- and +1 in its own, on its day (China time), with its asset's group and weights.
CREATE OR REPLACE FUNCTION tally_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM progress_tallies;
    INSERT INTO progress_tallies
    WITH counted AS (
        SELECT e.asset_id, e.stage,
               CAST(e.observed_at AT TIME ZONE 'Asia/Shanghai' AS date) AS day,
               lag(e.stage, 1, 'not_started') OVER (
                   PARTITION BY e.asset_id ORDER BY e.observed_at, e.received_at, e.id
               ) AS before
          FROM asset_events e LEFT JOIN report_reviews r ON r.event_id = e.id
         WHERE event_counts(e.flags, r.decision)
    ), steps AS (
        SELECT a.layer, CAST(a.county_adcode AS text) AS county_adcode, a.kind, a.batch,
               'not_started' AS stage, CAST('-infinity' AS date) AS day, count(*) AS assets,
               sum(tally_households(a.layer, a.households)) AS households,
               sum(tally_km(a.geom)) AS km,
               sum(coalesce(a.planned_investment_wan, 0)) AS investment_wan
          FROM assets a
         GROUP BY a.layer, a.county_adcode, a.kind, a.batch
        UNION ALL
        SELECT a.layer, CAST(a.county_adcode AS text), a.kind, a.batch, m.stage, c.day,
               sum(m.step), sum(m.step * tally_households(a.layer, a.households)),
               sum(m.step * tally_km(a.geom)),
               sum(m.step * coalesce(a.planned_investment_wan, 0))
          FROM counted c JOIN assets a ON a.id = c.asset_id
         CROSS JOIN LATERAL (VALUES (c.before, -1), (c.stage, 1)) m(stage, step)
         WHERE c.before <> c.stage
         GROUP BY a.layer, a.county_adcode, a.kind, a.batch, m.stage, c.day
    )
    SELECT layer, county_adcode, kind, batch, stage, day, sum(assets), sum(households),
           sum(km), sum(investment_wan)
      FROM steps
     GROUP BY layer, county_adcode, kind, batch, stage, day
    HAVING sum(assets) <> 0 OR sum(households) <> 0 OR sum(km) <> 0 OR sum(investment_wan) <> 0;
$$;
-- Recompute every cell from the assets: the finest level from them, each coarser level from
-- the one finer than it (cells nest exactly). Grouped by hashing: the planner, taking the
-- point assets for a thousand rows, sorted a million of them by eight keys instead (a million
-- houses: 5.0 -> 3.7 s).
CREATE OR REPLACE FUNCTION tile_cells_rebuild() RETURNS void LANGUAGE plpgsql
SET enable_sort = off AS $$
DECLARE
    levels integer[] := ARRAY(SELECT l FROM unnest(tile_cell_levels()) l ORDER BY l DESC);
BEGIN
    DELETE FROM tile_cells;
    INSERT INTO tile_cells
    SELECT a.layer, c.level, c.cx, c.cy, a.county_adcode, a.kind, coalesce(a.batch, 0),
           a.stage, count(*), sum(c.x), sum(c.y), sum(a.id)
      FROM assets a CROSS JOIN LATERAL tile_cells_of(a.geom) c
     WHERE c.level = levels[1]
     GROUP BY a.layer, c.level, c.cx, c.cy, a.county_adcode, a.kind, coalesce(a.batch, 0),
              a.stage;
    FOR i IN 2 .. cardinality(levels) LOOP
        INSERT INTO tile_cells
        SELECT t.layer, levels[i], t.cx >> (levels[i - 1] - levels[i]),
               t.cy >> (levels[i - 1] - levels[i]), t.county_adcode, t.kind, t.batch_key,
               t.stage, sum(t.n), sum(t.sum_x), sum(t.sum_y), sum(t.sum_id)
          FROM tile_cells t
         WHERE t.level = levels[i - 1]
         GROUP BY t.layer, t.cx >> (levels[i - 1] - levels[i]),
                  t.cy >> (levels[i - 1] - levels[i]), t.county_adcode, t.kind, t.batch_key,
                  t.stage;
    END LOOP;
    -- without statistics the planner reads a tile's rows by cy alone (tens of times more)
    ANALYZE tile_cells;
END $$;
"""

# The definitions of migrations 0005 and 0006.
DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION tally_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM progress_tallies;
    INSERT INTO progress_tallies
    SELECT s.layer, s.county_adcode, s.kind, s.batch, s.stage, s.day, sum(s.step),
           sum(s.step * s.households), sum(s.step * s.km), sum(s.step * s.investment_wan)
      FROM asset_steps(NULL, '{}', '{}') s
     GROUP BY s.layer, s.county_adcode, s.kind, s.batch, s.stage, s.day
    HAVING sum(s.step) <> 0 OR sum(s.step * s.households) <> 0 OR sum(s.step * s.km) <> 0
        OR sum(s.step * s.investment_wan) <> 0;
$$;

DROP FUNCTION tile_cells_rebuild();
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
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
