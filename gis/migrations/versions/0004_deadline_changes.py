"""Deadline changes kept with who and when.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE deadline_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  integer REFERENCES users,
    changed_via text NOT NULL CHECK (changed_via IN ('api', 'cli')),
    rule        text NOT NULL,
    before      jsonb,
    after       jsonb,
    CONSTRAINT deadline_changes_something CHECK (before IS NOT NULL OR after IS NOT NULL)
);
CREATE INDEX deadline_changes_rule ON deadline_changes (rule, changed_at);
CREATE TRIGGER deadline_changes_no_update BEFORE UPDATE OR DELETE ON deadline_changes
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER deadline_changes_no_truncate BEFORE TRUNCATE ON deadline_changes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
"""

DOWNGRADE = "DROP TABLE deadline_changes;"


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
