"""Tile cells at level 17 too, so that a z14 tile (whose 8 x 8 grid is level 17) sums its own
cells instead of four times as many of level 18.

At a million houses the densest z14 tile read 1,191 rows of level 18 and sorted them into 416
groups; with level 17 stored it reads those 416 (``make bench``, docs/benchmarks.md). A report
that moves a point asset now updates five rows of ``tile_cells`` instead of four. The new level
is summed from level 18 (cells nest exactly, see migration 0006), so it is exact from the start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Written out, not imported: what this migration builds must not change with later code.
UPGRADE = r"""
-- The stored levels: a tile at zoom z reads the smallest one >= z + 3 (z < 16).
CREATE OR REPLACE FUNCTION tile_cell_levels() RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CAST('{10, 13, 15, 17, 18}' AS integer[]) $$;

INSERT INTO tile_cells
SELECT layer, 17, cx >> 1, cy >> 1, county_adcode, kind, batch_key, stage,
       sum(n), sum(sum_x), sum(sum_y), sum(sum_id)
  FROM tile_cells
 WHERE level = 18
 GROUP BY layer, cx >> 1, cy >> 1, county_adcode, kind, batch_key, stage;

ANALYZE tile_cells;
"""

DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION tile_cell_levels() RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CAST('{10, 13, 15, 18}' AS integer[]) $$;

DELETE FROM tile_cells WHERE level = 17;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
