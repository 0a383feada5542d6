"""Bringing a database to a usable state: schema, reference data, and (optionally) the demo."""

from sqlalchemy import Engine, text

from gis import db, loaders
from gis.settings import Settings


def load_reference(engine: Engine, settings: Settings) -> None:
    """County boundaries and deadlines, from ``data/``, through the product's loaders."""
    with db.transaction(engine) as session:
        loaders.load_counties(session, settings.counties_file, settings.data_dir / "counties.toml")
        loaders.load_deadlines(session, settings.data_dir / "deadlines.toml")


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM assets)")).scalar_one()


def prepare(settings: Settings) -> str:
    """Migrate the configured (or local) database and load reference data; returns its URL."""
    url = db.database_url(settings)
    db.migrate(url)
    load_reference(db.make_engine(url), settings)
    return url
