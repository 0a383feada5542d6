"""Fixtures over a real PostGIS: the project-local cluster, a database of the tests' own.

Nothing here skips. If PostGIS cannot be provisioned the session errors, so CI fails loudly.
``REBUILD_TEST_DATABASE_URL`` points the tests at an existing (disposable) PostGIS database
instead of the local cluster.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from gis import db, localdb, provision
from gis.settings import Settings


def _test_db_name(suffix: str = "") -> str:
    return f"rebuild_test_{os.getpid()}{suffix}"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(database_url=None)


@pytest.fixture(scope="session")
def cluster(settings: Settings) -> localdb.Cluster:
    running = localdb.up(settings)
    _drop_leftovers(running)
    return running


def _drop_leftovers(cluster: localdb.Cluster) -> None:
    """Drop test databases of earlier runs whose process is gone (a run killed midway)."""
    with psycopg.connect(cluster.conninfo("postgres")) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'rebuild\\_test\\_%'"
            )
        ]
    for name in names:
        match = re.match(r"rebuild_test_(\d+)", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            localdb.drop_database(cluster, name)


@pytest.fixture(scope="session")
def fresh_database(cluster: localdb.Cluster) -> Iterator[str]:
    """An empty PostGIS database of this test session's own; dropped afterwards."""
    name = _test_db_name("_fresh")
    url = localdb.ensure_database(cluster, name)
    yield url
    db.make_engine(url).dispose()
    localdb.drop_database(cluster, name)


@pytest.fixture(scope="session")
def database_url(cluster: localdb.Cluster, settings: Settings) -> Iterator[str]:
    """The tests' database: migrated, with counties and deadlines loaded through the loaders."""
    external = os.environ.get("REBUILD_TEST_DATABASE_URL")
    name = _test_db_name()
    url = external or localdb.ensure_database(cluster, name)
    db.migrate(url)
    provision.load_reference(db.make_engine(url), settings)
    yield url
    db.make_engine(url).dispose()
    if not external:
        localdb.drop_database(cluster, name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Engine:
    return db.make_engine(database_url)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        if outer.is_active:
            outer.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "data"
