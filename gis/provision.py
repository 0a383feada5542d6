"""Bringing a database to a usable state: schema, reference data, and (optionally) the demo."""

from sqlalchemy import Engine, text

from gis import db, loaders
from gis.settings import Settings


def load_reference(engine: Engine, settings: Settings) -> None:
    """County boundaries and deadlines, from ``data/``, through the product's loaders."""
    with db.transaction(engine) as session:
        loaders.load_counties(session, settings.counties_file, settings.data_dir / "counties.toml")
        loaders.load_deadlines(session, settings.data_dir / "deadlines.toml")


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def is_empty(engine: Engine) -> bool:
    """Whether the database holds no assets yet."""
    return _count(engine, "assets") == 0


def prepare(settings: Settings) -> str:
    """Migrate the configured (or local) database; load reference data the first time.

    Deadlines are loaded from the file only into an empty table, so that edits made in the
    database are not overwritten at the next start; `rebuild deadlines load` re-reads the file.
    """
    url = db.database_url(settings)
    db.migrate(url)
    engine = db.make_engine(url)
    if _count(engine, "counties") == 0 or _count(engine, "deadlines") == 0:
        load_reference(engine, settings)
    return url
