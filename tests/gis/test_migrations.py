"""Alembic migrations: upgrade from empty, downgrade to nothing, upgrade again."""

from sqlalchemy import inspect

from gis import db

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
