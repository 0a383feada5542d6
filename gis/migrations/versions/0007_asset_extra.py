"""Extra attributes of an asset: the columns of a county's inventory the tracker does not model
(户数, 间数, 长度公里, 备注, ...), kept as they were sent rather than dropped.

``extra`` holds those anyone who may read the asset may see (the import's list of harmless
headers, or a county's mapping file saying so); ``extra_personal`` all others, shown only to
those who see householders' details, since a clerk's column may hold anything (身份证号, 电话).
Both are JSON objects of header -> text.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE assets
    ADD COLUMN extra jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT assets_extra_object CHECK (jsonb_typeof(extra) = 'object'),
    ADD COLUMN extra_personal jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT assets_extra_personal_object CHECK (jsonb_typeof(extra_personal) = 'object');
COMMENT ON COLUMN assets.extra_personal IS 'PERSONAL DATA: hidden from roles without access';
"""

DOWNGRADE = """
ALTER TABLE assets DROP COLUMN extra, DROP COLUMN extra_personal;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
