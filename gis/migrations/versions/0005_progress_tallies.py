"""Progress tallies: assets per county, group and stage, counted by day as reports arrive.

Progress as of day D is a sum over a small table instead of a pass over every asset and its
history (at a million houses the pass took four to five seconds).

Every asset is a set of steps: +1 in 未开工 from the beginning of time, and on the day (China
time) of each counting report, -1 in the stage before it and +1 in the report's stage. Summing an
asset's steps up to D leaves +1 in its stage on D, whatever order the reports arrived in.
``progress_tallies`` holds those steps summed per (layer, county, kind, batch, stage, day), with
households, kilometres and planned investment weighted alike. Triggers keep it exact: a new
report, a review that makes a report count or stop counting, a new asset, an asset whose county,
group or weights change; each recomputes the steps of the assets it touched before and after.
``tally_rebuild()`` recomputes the table from scratch (after a bulk load; and tests compare).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# An asset's steps: +1 in 未开工 from the beginning of time, then for each counting report in
# the order observed, -1 in the stage before it and +1 in its own (a report that leaves the
# stage as it was makes no step). {counts} says which events count: as now, or as before a
# statement (leaving out the events ``skip`` and reading ``unreviewed`` as never reviewed).
STEPS = """
        WITH counted AS (
            SELECT e.asset_id, e.stage,
                   CAST(e.observed_at AT TIME ZONE 'Asia/Shanghai' AS date) AS day,
                   lag(e.stage, 1, 'not_started') OVER (
                       PARTITION BY e.asset_id ORDER BY e.observed_at, e.received_at, e.id
                   ) AS before
              FROM asset_events e LEFT JOIN report_reviews r ON r.event_id = e.id
             WHERE {events} AND {counts}
        ), steps AS (
            SELECT a.id AS asset_id, CAST('-infinity' AS date) AS day,
                   'not_started' AS stage, 1 AS step
              FROM assets a WHERE {assets}
            UNION ALL
            SELECT c.asset_id, c.day, c.before, -1 FROM counted c WHERE c.before <> c.stage
            UNION ALL
            SELECT c.asset_id, c.day, c.stage, 1 FROM counted c WHERE c.before <> c.stage
        )
        SELECT s.asset_id, a.layer, CAST(a.county_adcode AS text) AS county_adcode, a.kind,
               a.batch, tally_households(a.layer, a.households) AS households,
               tally_km(a.geom) AS km,
               coalesce(a.planned_investment_wan, 0) AS investment_wan, s.day, s.stage, s.step
          FROM steps s JOIN assets a ON a.id = s.asset_id"""
COUNTS_NOW = "event_counts(e.flags, r.decision)"
COUNTS_BEFORE = """NOT e.id = ANY(skip)
               AND event_counts(e.flags,
                                CASE WHEN e.id = ANY(unreviewed) THEN NULL ELSE r.decision END)"""
FEW = {"events": "e.asset_id = ANY(ids)", "assets": "a.id = ANY(ids)"}
ALL = {"events": "true", "assets": "true"}

UPGRADE = r"""
-- Whether an event counts toward its asset's state: the one rule, used by the view and below.
CREATE FUNCTION event_counts(flags text[], decision text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN decision IS NULL THEN NOT ('conflict' = ANY(flags))
                ELSE decision = 'confirmed' END
$$;

CREATE OR REPLACE VIEW counting_events AS
SELECT e.*
  FROM asset_events e LEFT JOIN report_reviews r ON r.event_id = e.id
 WHERE event_counts(e.flags, r.decision);

CREATE TABLE progress_tallies (
    layer          text NOT NULL,
    county_adcode  text NOT NULL,
    kind           text NOT NULL,
    batch          smallint,
    stage          text NOT NULL REFERENCES stages,
    day            date NOT NULL,  -- China time; '-infinity' for every asset's 未开工 start
    assets         integer NOT NULL,
    households     integer NOT NULL,
    km             numeric(14, 3) NOT NULL,
    investment_wan numeric(16, 2) NOT NULL,
    CONSTRAINT progress_tallies_key
        UNIQUE NULLS NOT DISTINCT (layer, county_adcode, kind, batch, stage, day)
);

-- An asset's weights in the tallies: households for houses (1 if unknown), kilometres for
-- lines (rounded to the metre, so that steps in and out cancel exactly), planned investment.
CREATE FUNCTION tally_households(layer text, households smallint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN layer = 'houses' THEN coalesce(households, 1) ELSE 0 END
$$;
CREATE FUNCTION tally_km(geom geometry) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ST_Dimension(geom) = 1
                THEN round(CAST(ST_Length(CAST(geom AS geography)) / 1000 AS numeric), 3)
                ELSE 0 END
$$;

-- The steps of the assets ``ids`` (every asset when NULL), from their counting events, leaving
-- out the events ``skip`` and reading the events ``unreviewed`` as if no review existed: that
-- is how a trigger sees the steps as they were before its statement. Each step carries its
-- asset's group and weights as they are now. Two static queries (one text, see STEPS below),
-- so that each keeps its plan: one for a few assets (a trigger: index lookups, planned once
-- per session), one for all of them (a recount).
CREATE FUNCTION asset_steps(ids bigint[], skip uuid[], unreviewed uuid[])
RETURNS TABLE (asset_id bigint, layer text, county_adcode text, kind text, batch smallint,
               households integer, km numeric, investment_wan numeric, day date, stage text,
               step integer)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
BEGIN
    IF ids IS NULL THEN
        RETURN QUERY {steps_of_all};
    ELSE
        RETURN QUERY {steps_of_ids};
    END IF;
END $fn$;

-- Add rows of steps into the tallies, in key order so that concurrent writers lock the same
-- rows in the same order and never deadlock.
CREATE FUNCTION tally_merge(rows progress_tallies[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    INSERT INTO progress_tallies AS t
    SELECT * FROM unnest(rows) u
     ORDER BY u.layer, u.county_adcode, u.kind, u.batch, u.stage, u.day
        ON CONFLICT ON CONSTRAINT progress_tallies_key DO UPDATE
       SET assets = t.assets + excluded.assets,
           households = t.households + excluded.households,
           km = t.km + excluded.km,
           investment_wan = t.investment_wan + excluded.investment_wan;
END $$;

-- Add to the tallies the change in the steps of the assets ``ids`` from those seen with
-- ``skip``/``unreviewed`` to those seen now (their county, group and weights unchanged). A
-- static statement in PL/pgSQL whose plan is made once per connection: a report's trigger
-- costs a few index lookups, not a planning (PL/pgSQL would otherwise plan it again for every
-- call, the arrays' sizes being unknown: nine tenths of its cost).
CREATE FUNCTION tally_apply(ids bigint[], skip uuid[], unreviewed uuid[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    PERFORM tally_merge(ARRAY(
        SELECT ROW(s.layer, s.county_adcode, s.kind, s.batch, s.stage, s.day, sum(s.step),
                   sum(s.step * s.households), sum(s.step * s.km),
                   sum(s.step * s.investment_wan))::progress_tallies
          FROM ({steps_now}
                UNION ALL
                SELECT o.asset_id, o.layer, o.county_adcode, o.kind, o.batch, o.households,
                       o.km, o.investment_wan, o.day, o.stage, -o.step
                  FROM ({steps_before}) o) s
         GROUP BY s.layer, s.county_adcode, s.kind, s.batch, s.stage, s.day
        HAVING sum(s.step) <> 0 OR sum(s.step * s.households) <> 0 OR sum(s.step * s.km) <> 0
            OR sum(s.step * s.investment_wan) <> 0));
END $$;

CREATE FUNCTION tally_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tally_apply(ARRAY(SELECT DISTINCT asset_id FROM new_events),
                        ARRAY(SELECT id FROM new_events), '{}');
    RETURN NULL;
END $$;

CREATE FUNCTION tally_reviews() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tally_apply(ARRAY(SELECT DISTINCT e.asset_id
                                FROM new_reviews r JOIN asset_events e ON e.id = r.event_id),
                        '{}', ARRAY(SELECT event_id FROM new_reviews));
    RETURN NULL;
END $$;

-- New assets start in 未开工; an asset whose county, group or weights change moves all its
-- steps; a deleted asset takes its steps away.
CREATE FUNCTION tally_assets() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tally_merge(ARRAY(
            SELECT ROW(n.layer, n.county_adcode, n.kind, n.batch, 'not_started', '-infinity',
                       count(*), sum(tally_households(n.layer, n.households)),
                       sum(tally_km(n.geom)), sum(coalesce(n.planned_investment_wan, 0))
                      )::progress_tallies
              FROM new_assets n
             GROUP BY n.layer, n.county_adcode, n.kind, n.batch));
    ELSIF TG_OP = 'DELETE' THEN
        -- asset_events is append-only and refers to its asset: only an asset without reports
        -- can be deleted, so it leaves its 未开工 start behind and nothing else.
        PERFORM tally_merge(ARRAY(
            SELECT ROW(o.layer, o.county_adcode, o.kind, o.batch, 'not_started', '-infinity',
                       -count(*), -sum(tally_households(o.layer, o.households)),
                       -sum(tally_km(o.geom)), -sum(coalesce(o.planned_investment_wan, 0))
                      )::progress_tallies
              FROM old_assets o
             GROUP BY o.layer, o.county_adcode, o.kind, o.batch));
    ELSE
        -- Most updates (a report moving the stage) change no group and no weight: stop there.
        SELECT array_agg(o.id) INTO moved
          FROM old_assets o JOIN new_assets n ON n.id = o.id
         WHERE (o.layer, o.county_adcode, o.kind, o.batch,
                tally_households(o.layer, o.households), o.planned_investment_wan)
               IS DISTINCT FROM (n.layer, n.county_adcode, n.kind, n.batch,
                                 tally_households(n.layer, n.households),
                                 n.planned_investment_wan)
            OR tally_km(o.geom) <> tally_km(n.geom);
        IF moved IS NULL THEN
            RETURN NULL;
        END IF;
        -- The steps with the weights as they are now, and the same steps as they were.
        PERFORM tally_merge(ARRAY(
            WITH steps AS (SELECT * FROM asset_steps(moved, '{}', '{}')),
            weighted AS (
                SELECT s.layer, s.county_adcode, s.kind, s.batch, s.stage, s.day, s.step,
                       s.households, s.km, s.investment_wan
                  FROM steps s
                UNION ALL
                SELECT o.layer, o.county_adcode, o.kind, o.batch, s.stage, s.day, -s.step,
                       tally_households(o.layer, o.households), tally_km(o.geom),
                       coalesce(o.planned_investment_wan, 0)
                  FROM steps s JOIN old_assets o ON o.id = s.asset_id
            )
            SELECT ROW(layer, county_adcode, kind, batch, stage, day, sum(step),
                       sum(step * households), sum(step * km),
                       sum(step * investment_wan))::progress_tallies
              FROM weighted
             GROUP BY layer, county_adcode, kind, batch, stage, day
            HAVING sum(step) <> 0 OR sum(step * households) <> 0 OR sum(step * km) <> 0
                OR sum(step * investment_wan) <> 0));
    END IF;
    RETURN NULL;
END $$;

-- Recompute every tally from the assets and their counting events.
CREATE FUNCTION tally_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM progress_tallies;
    INSERT INTO progress_tallies
    SELECT s.layer, s.county_adcode, s.kind, s.batch, s.stage, s.day, sum(s.step),
           sum(s.step * s.households), sum(s.step * s.km), sum(s.step * s.investment_wan)
      FROM asset_steps(NULL, '{}', '{}') s
     GROUP BY s.layer, s.county_adcode, s.kind, s.batch, s.stage, s.day
    HAVING sum(s.step) <> 0 OR sum(s.step * s.households) <> 0 OR sum(s.step * s.km) <> 0
        OR sum(s.step * s.investment_wan) <> 0;
$$;

CREATE TRIGGER tally_events AFTER INSERT ON asset_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION tally_events();
CREATE TRIGGER tally_reviews AFTER INSERT ON report_reviews
    REFERENCING NEW TABLE AS new_reviews FOR EACH STATEMENT EXECUTE FUNCTION tally_reviews();
CREATE TRIGGER tally_assets_insert AFTER INSERT ON assets
    REFERENCING NEW TABLE AS new_assets FOR EACH STATEMENT EXECUTE FUNCTION tally_assets();
CREATE TRIGGER tally_assets_update AFTER UPDATE ON assets
    REFERENCING OLD TABLE AS old_assets NEW TABLE AS new_assets
    FOR EACH STATEMENT EXECUTE FUNCTION tally_assets();
CREATE TRIGGER tally_assets_delete AFTER DELETE ON assets
    REFERENCING OLD TABLE AS old_assets FOR EACH STATEMENT EXECUTE FUNCTION tally_assets();
CREATE FUNCTION tally_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM progress_tallies;
    RETURN NULL;
END $$;
CREATE TRIGGER tally_assets_truncate AFTER TRUNCATE ON assets
    FOR EACH STATEMENT EXECUTE FUNCTION tally_truncate();

SELECT tally_rebuild();
"""

DOWNGRADE = """
DROP TRIGGER tally_events ON asset_events;
DROP TRIGGER tally_reviews ON report_reviews;
DROP TRIGGER tally_assets_insert ON assets;
DROP TRIGGER tally_assets_update ON assets;
DROP TRIGGER tally_assets_delete ON assets;
DROP TRIGGER tally_assets_truncate ON assets;
DROP FUNCTION tally_events(), tally_reviews(), tally_assets(), tally_truncate(),
    tally_rebuild(), tally_apply(bigint[], uuid[], uuid[]),
    tally_merge(progress_tallies[]), asset_steps(bigint[], uuid[], uuid[]),
    tally_households(text, smallint), tally_km(geometry);
DROP TABLE progress_tallies;
CREATE OR REPLACE VIEW counting_events AS
SELECT e.*
  FROM asset_events e LEFT JOIN report_reviews r ON r.event_id = e.id
 WHERE CASE WHEN r.decision IS NULL THEN NOT ('conflict' = ANY(e.flags))
            ELSE r.decision = 'confirmed' END;
DROP FUNCTION event_counts(text[], text);
"""


def upgrade() -> None:
    steps = {
        "{steps_of_all}": STEPS.format(**ALL, counts=COUNTS_BEFORE),
        "{steps_of_ids}": STEPS.format(**FEW, counts=COUNTS_BEFORE),
        "{steps_now}": STEPS.format(**FEW, counts=COUNTS_NOW),
        "{steps_before}": STEPS.format(**FEW, counts=COUNTS_BEFORE),
    }
    sql = UPGRADE
    for placeholder, text in steps.items():
        sql = sql.replace(placeholder, text)
    op.execute(sql)


def downgrade() -> None:
    op.execute(DOWNGRADE)
