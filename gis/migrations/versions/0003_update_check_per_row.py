"""Check an updated asset's county only when its geometry or county changes.

The statement-level trigger of 0001 re-checked every updated row, so each progress report
(which sets stage, percent and version) paid a transition table and an ST_Covers. Inserts keep
the statement-level check (one set-based query per COPY); updates now fire a row trigger only
when ``geom`` or ``county_adcode`` is set to something new.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
DROP TRIGGER assets_inside_county_upd ON assets;

CREATE FUNCTION assets_check_inside_county_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM counties c
                    WHERE c.adcode = NEW.county_adcode AND ST_Covers(c.geom, NEW.geom)) THEN
        RAISE EXCEPTION 'asset % lies outside its county %', NEW.code, NEW.county_adcode
              USING ERRCODE = 'check_violation', CONSTRAINT = 'assets_inside_county';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER assets_inside_county_upd AFTER UPDATE OF geom, county_adcode ON assets
    FOR EACH ROW
    WHEN (OLD.geom IS DISTINCT FROM NEW.geom
          OR OLD.county_adcode IS DISTINCT FROM NEW.county_adcode)
    EXECUTE FUNCTION assets_check_inside_county_row();
"""

DOWNGRADE = """
DROP TRIGGER assets_inside_county_upd ON assets;
DROP FUNCTION assets_check_inside_county_row();
CREATE TRIGGER assets_inside_county_upd AFTER UPDATE ON assets
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION assets_check_inside_county();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
