"""Alembic migrations: upgrade from empty, downgrade to nothing, upgrade again."""

from sqlalchemy import inspect, text

from gis import db, loaders
from gis.settings import Settings
from tests.conftest import Databases, test_db_name

TABLES = {
    "layers",
    "asset_kinds",
    "stages",
    "counties",
    "assets",
    "asset_events",
    "milestones",
    "deadlines",
    "users",
    "user_counties",
}


def _tables(url: str) -> set[str]:
    engine = db.make_engine(url)
    engine.dispose()
    return set(inspect(engine).get_table_names())


def test_upgrade_downgrade_upgrade(fresh_database: str) -> None:
    assert not (TABLES & _tables(fresh_database))
    db.migrate(fresh_database)
    assert _tables(fresh_database) >= TABLES
    db.downgrade(fresh_database, "base")
    assert not (TABLES & _tables(fresh_database))
    db.migrate(fresh_database)
    assert _tables(fresh_database) >= TABLES


def test_upgrade_keeps_the_data_of_the_first_schema(
    databases: Databases, settings: Settings
) -> None:
    """A database made by the first release, holding users, assets and events, upgrades to
    the current schema: roles renamed, events kept, history intact."""
    name = test_db_name("_upgrade")
    url = databases.create(name)
    try:
        db.migrate(url, "0001")
        engine = db.make_engine(url)
        with db.transaction(engine) as session:  # the boundaries; today's loader of deadlines
            loaders.load_counties(  # writes a history table the first schema lacks
                session, settings.counties_file, settings.data_dir / "counties.toml"
            )
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (username, display_name, role) VALUES "
                    "('old-manager', 'x', 'county_manager'), ('old-viewer', 'y', 'city_viewer')"
                )
            )
            asset = conn.execute(
                text(
                    "INSERT INTO assets (code, layer, kind, county_adcode, name, geom, stage,"
                    " percent) VALUES ('FW-410781-00001', 'houses', 'general_repair', '410781',"
                    " 'x', ST_GeomFromText('POINT(114.07 35.40)', 4326), 'started', 40)"
                    " RETURNING id"
                )
            ).scalar_one()
            conn.execute(text(
                "INSERT INTO asset_events (id, asset_id, stage, percent, observed_at, photos)"
                " VALUES (gen_random_uuid(), :a, 'started', 40, now(), '[]')"
            ), {"a": asset})  # fmt: skip
        db.migrate(url)
        with engine.connect() as conn:
            roles = dict(conn.execute(text("SELECT username, role FROM users")).all())
            events = conn.execute(text("SELECT count(*) FROM counting_events")).scalar_one()
        assert roles == {"old-manager": "manager", "old-viewer": "viewer"}
        assert events == 1
    finally:
        db.make_engine(url).dispose()
        databases.drop(name)
