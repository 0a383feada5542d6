"""Fixtures over a real PostGIS, in databases of the tests' own (never the demo database).

The test databases live on the server of ``REBUILD_DATABASE_URL`` when it is set (its role
needs CREATEDB), otherwise in the project-local cluster. Nothing here skips: if PostGIS cannot be
had, the session errors, so CI fails loudly. Tests of the local cluster itself (test_localdb)
always use the local cluster.
"""

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gis import db, localdb, provision
from gis.settings import Settings

pytest_plugins = ["tests.progress_samples"]  # the hand-counted data set, fixture `houses`


@dataclass(frozen=True)
class Databases:
    """Creates and drops PostGIS databases on the tests' server; ``create`` returns a URL, and
    ``url`` that of a database made before."""

    create: Callable[[str], str]
    drop: Callable[[str], None]
    url: Callable[[str], str]


def _external(url: str) -> Databases:
    def conninfo(name: str) -> str:
        target = make_url(url).set(drivername="postgresql", database=name)
        return target.render_as_string(hide_password=False)

    def drop(name: str) -> None:
        with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
            statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(statement.format(sql.Identifier(name)))

    def create(name: str) -> str:
        drop(name)
        with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with psycopg.connect(conninfo(name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return address(name)

    def address(name: str) -> str:
        return make_url(url).set(database=name).render_as_string(hide_password=False)

    return Databases(create, drop, address)


def _local(cluster: localdb.Cluster) -> Databases:
    def create(name: str) -> str:
        localdb.drop_database(cluster, name)
        return localdb.ensure_database(cluster, name)

    return Databases(
        create,
        lambda name: localdb.drop_database(cluster, name),
        lambda name: localdb.ensure_database(cluster, name),
    )


def test_db_name(suffix: str = "") -> str:
    """A database name of this test process's own."""
    return f"rebuild_test_{os.getpid()}{suffix}"


test_db_name.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings for the local cluster (tests pass database URLs explicitly). Trusted hosts: the
    test client's (``testserver``) and a LAN address, as an intranet deployment configures."""
    hosts = "127.0.0.1,localhost,::1,testserver,10.1.2.3"
    return Settings(database_url=None, trusted_hosts=hosts)


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
def databases(request: pytest.FixtureRequest) -> Databases:
    external = os.environ.get("REBUILD_DATABASE_URL")
    return _external(external) if external else _local(request.getfixturevalue("cluster"))


@pytest.fixture(scope="session")
def fresh_database(databases: Databases) -> Iterator[str]:
    """An empty PostGIS database of this test session's own; dropped afterwards."""
    name = test_db_name("_fresh")
    url = databases.create(name)
    yield url
    db.make_engine(url).dispose()
    databases.drop(name)


@pytest.fixture(scope="session")
def database_url(databases: Databases, settings: Settings) -> Iterator[str]:
    """The tests' database: migrated, with counties and deadlines loaded through the loaders."""
    name = test_db_name()
    url = databases.create(name)
    db.migrate(url)
    provision.load_reference(db.make_engine(url), settings)
    yield url
    db.make_engine(url).dispose()
    databases.drop(name)


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
