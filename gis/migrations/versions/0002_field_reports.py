"""Field workflow: accounts and tokens, photos, reports with location and flags, reviews.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- Roles get the names the API and the CLI use.
ALTER TABLE users DROP CONSTRAINT users_role_check;
UPDATE users SET role = CASE role WHEN 'city_viewer' THEN 'viewer'
                                  WHEN 'county_manager' THEN 'manager' ELSE role END;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'viewer', 'manager', 'inspector'));
ALTER TABLE users ADD COLUMN disabled_at timestamptz,
                  ADD COLUMN password_changed_at timestamptz,
                  ADD CONSTRAINT users_disabled_inactive
                      CHECK (disabled_at IS NULL OR NOT is_active);

-- Bearer tokens and browser sessions. Only a SHA-256 of the token is stored: a copy of the
-- table does not let anyone log in. Disabling a user revokes every token of theirs.
CREATE TABLE auth_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    integer NOT NULL REFERENCES users ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('bearer', 'session')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);

-- Photo evidence, addressed by the SHA-256 of its bytes (the file lives in the media folder).
CREATE TABLE photos (
    id           text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    bytes        integer NOT NULL CHECK (bytes > 0),
    width        integer NOT NULL CHECK (width > 0),
    height       integer NOT NULL CHECK (height > 0),
    taken_at     timestamptz,
    geom         geometry(Point, 4326) CHECK (ST_IsValid(geom)),
    uploaded_by  integer REFERENCES users,
    uploaded_at  timestamptz NOT NULL DEFAULT now()
);

-- Reports: where the reporter stood (as declared and converted), how far from the asset, the
-- state the report was applied on, the version the device had seen, and why it is flagged.
ALTER TABLE asset_events DROP COLUMN photos;
ALTER TABLE asset_events
    ADD COLUMN reporter_crs text CHECK (reporter_crs IN ('EPSG:4326', 'EPSG:4490', 'GCJ-02')),
    ADD COLUMN reporter_lon double precision,
    ADD COLUMN reporter_lat double precision,
    ADD COLUMN reporter_accuracy_m real CHECK (reporter_accuracy_m >= 0),
    ADD COLUMN distance_m real CHECK (distance_m >= 0),
    ADD COLUMN prev_stage text REFERENCES stages,
    ADD COLUMN prev_percent smallint CHECK (prev_percent BETWEEN 0 AND 100),
    ADD COLUMN base_version integer CHECK (base_version > 0),
    ADD COLUMN flags text[] NOT NULL DEFAULT '{}'
        CONSTRAINT asset_events_known_flags
        CHECK (flags <@ ARRAY['far_away', 'backwards', 'exif_mismatch', 'conflict']),
    ADD CONSTRAINT asset_events_location_whole CHECK (
        (reporter_geom IS NULL) = (reporter_crs IS NULL)
        AND (reporter_crs IS NULL) = (reporter_lon IS NULL)
        AND (reporter_lon IS NULL) = (reporter_lat IS NULL)),
    ADD CONSTRAINT asset_events_backwards_reason CHECK (
        NOT ('backwards' = ANY(flags)) OR btrim(coalesce(reason, '')) <> '');
CREATE INDEX asset_events_flagged ON asset_events (received_at DESC) WHERE flags <> '{}';

-- Generic guard for the other append-only tables of the audit trail.
CREATE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
          USING ERRCODE = 'restrict_violation';
END $$;

CREATE TABLE event_photos (
    event_id uuid NOT NULL REFERENCES asset_events,
    photo_id text NOT NULL REFERENCES photos,
    PRIMARY KEY (event_id, photo_id)
);
CREATE INDEX event_photos_photo ON event_photos (photo_id);
CREATE TRIGGER event_photos_no_update BEFORE UPDATE OR DELETE ON event_photos
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER event_photos_no_truncate BEFORE TRUNCATE ON event_photos
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- A manager's decision on a report: one per report, never changed. A rejected report stays in
-- the history but no longer counts toward the asset's state.
CREATE TABLE report_reviews (
    event_id    uuid PRIMARY KEY REFERENCES asset_events,
    decision    text NOT NULL CHECK (decision IN ('confirmed', 'rejected')),
    reviewer_id integer NOT NULL REFERENCES users,
    reviewed_at timestamptz NOT NULL DEFAULT now(),
    note        text
);
CREATE TRIGGER report_reviews_no_update BEFORE UPDATE OR DELETE ON report_reviews
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER report_reviews_no_truncate BEFORE TRUNCATE ON report_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The events that count toward an asset's state: not rejected, and not held as a conflict
-- unless a manager confirmed it. The current state is the newest of these by observed_at.
CREATE VIEW counting_events AS
SELECT e.*
  FROM asset_events e LEFT JOIN report_reviews r ON r.event_id = e.id
 WHERE CASE WHEN r.decision IS NULL THEN NOT ('conflict' = ANY(e.flags))
            ELSE r.decision = 'confirmed' END;

-- Facts about the database itself, e.g. that it holds the generated demo data set.
CREATE TABLE app_meta (
    key   text PRIMARY KEY,
    value jsonb NOT NULL
);
"""

DOWNGRADE = """
DROP TABLE app_meta;
DROP VIEW counting_events;
DROP TABLE report_reviews, event_photos;
DROP FUNCTION refuse_change();
DROP INDEX asset_events_flagged;
ALTER TABLE asset_events
    DROP CONSTRAINT asset_events_backwards_reason,
    DROP CONSTRAINT asset_events_location_whole,
    DROP COLUMN flags, DROP COLUMN base_version, DROP COLUMN prev_percent,
    DROP COLUMN prev_stage, DROP COLUMN distance_m, DROP COLUMN reporter_accuracy_m,
    DROP COLUMN reporter_lat, DROP COLUMN reporter_lon, DROP COLUMN reporter_crs,
    ADD COLUMN photos jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(photos) = 'array');
DROP TABLE photos, auth_tokens;
ALTER TABLE users DROP CONSTRAINT users_disabled_inactive,
                  DROP COLUMN password_changed_at, DROP COLUMN disabled_at,
                  DROP CONSTRAINT users_role_check;
UPDATE users SET role = CASE role WHEN 'viewer' THEN 'city_viewer'
                                  WHEN 'manager' THEN 'county_manager' ELSE role END;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'city_viewer', 'county_manager', 'inspector'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
