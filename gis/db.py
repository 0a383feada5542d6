"""Engine, sessions, the one transaction boundary, and Alembic migrations."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from psycopg.rows import namedtuple_row
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.orm import Session, sessionmaker

from gis import localdb
from gis.settings import Settings

POOL_SIZE = 10  # connections per process for requests
# and more for layer downloads, which stream for minutes on connections of their own (api/deps.py)
DOWNLOADS = 2
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(settings: Settings) -> str:
    """The configured URL, or the project-local cluster's (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return localdb.up(settings).url()


def served_url(settings: Settings) -> str:
    """The configured URL, or where the local cluster is (never starting or installing it: the
    web app only connects; `rebuild serve --prepare` and `rebuild db up` start the cluster)."""
    if settings.database_url:
        return settings.database_url
    return localdb.describe(settings).url()


@lru_cache(maxsize=8)
def make_engine(url: str) -> Engine:
    # No pre-ping: it costs a round trip on every request. After a database restart the first
    # request on a dead connection fails (503, see api/errors.py) and SQLAlchemy then discards
    # the whole pool, so the next one reconnects.
    # A fixed pool: connections beyond it would be opened and closed under load (a new
    # PostgreSQL backend costs ~10 ms of CPU with its first PostGIS query). The web app admits
    # at most POOL_SIZE requests and DOWNLOADS layer downloads at a time to the database
    # (api/deps.py), so none waits here.
    # hide_parameters: values (householders' names and phones among them) never reach a log
    # line or an exception's text.
    engine = create_engine(
        url,
        pool_size=POOL_SIZE + DOWNLOADS,
        max_overflow=0,
        pool_timeout=30,
        pool_recycle=3600,
        hide_parameters=True,
    )
    event.listen(engine, "connect", _without_jit)
    return engine


def _without_jit(connection: Any, _record: Any) -> None:
    """No JIT compiling on our connections. Our queries are short, and PostgreSQL judges them
    by cost estimates that small unanalysed tables (stages, deadlines) and per-asset LATERAL
    lookups inflate: it compiled for 70-360 ms to run a tile or a money summary that takes a
    few ms to a second. Set per connection, so an external server's configuration is left
    alone for everyone else."""
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    connection.commit()  # a SET in a transaction that is rolled back would be undone


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """The one place that commits: everything inside succeeds together or not at all."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def snapshot(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction of its own that only reads, REPEATABLE READ: every statement
    sees the database as the first one did, so a file read for minutes is one consistent whole.
    Closed (rolled back) at the end; the pool resets the connection's characteristics."""
    with sessions() as session:
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        yield session


def driver_rows(
    session: Session, sql: str, params: dict[str, Any], *, binary: bool = False
) -> list[Any]:
    """Run ``sql`` (psycopg placeholders, ``%(name)s``) on the session's own connection, in its
    transaction, and return the rows as named tuples. For the few hot statements where
    SQLAlchemy's statement handling costs more than the database's work. ``binary``: results
    in PostgreSQL's binary format (a bytea arrives as bytes, not as hex to decode)."""
    driver = session.connection().connection.driver_connection
    with driver.cursor(row_factory=namedtuple_row) as cursor:
        cursor.execute(sql, params, binary=binary)
        return cursor.fetchall() if cursor.description else []


def driver_chunks(
    session: Session, sql: str, params: dict[str, Any], *, size: int, binary: bool = False
) -> Iterator[list[Any]]:
    """Run ``sql`` (psycopg placeholders) through a server-side cursor on the session's own
    connection, in its transaction, and yield its rows ``size`` at a time as named tuples: a
    result of any length in bounded memory. The cursor is closed when the generator finishes
    or is closed, so close it before the transaction ends."""
    driver = session.connection().connection.driver_connection
    with driver.cursor(name="chunks", row_factory=namedtuple_row) as cursor:
        cursor.execute(sql, params, binary=binary)
        while rows := cursor.fetchmany(size):
            yield rows


def plan_each_time(session: Session, *, parallel: bool = True) -> None:
    """For the rest of the transaction, every statement is planned for its own values; with
    ``parallel`` False, without parallel workers.

    psycopg prepares a statement once a connection has run it five times, and PostgreSQL may
    then keep one generic plan for every value. Where the best plan depends on the values (a
    bbox, a day, an optional filter written ``:x IS NULL OR ...``) that plan was many times
    slower at a million houses: a whole-city OGC page 2.9 s instead of 16 ms, /progress 650 ms
    instead of 105, /progress/overdue 1.4 s instead of 0.65. Statements that gain from a plan
    kept (a token lookup, a report's writes) are left alone. A parallel worker's start-up
    costs more than a page of a few ms on a server whose two cores serve many clients."""
    driver_rows(session, _PLAN_EACH_TIME[parallel], {})


_PLAN_EACH_TIME = {
    True: "SELECT set_config('plan_cache_mode', 'force_custom_plan', true) AS plans",
    False: "SELECT set_config('plan_cache_mode', 'force_custom_plan', true) AS plans, "
    "set_config('max_parallel_workers_per_gather', '0', true) AS workers",
}


@lru_cache(maxsize=256)
def pyformat(sql: str) -> str:
    """``sql`` with SQLAlchemy's ``:name`` placeholders written as psycopg's ``%(name)s`` (and a
    literal ``%`` as ``%%``), for ``driver_rows``."""
    return str(text(sql).compile(dialect=postgresql_psycopg.dialect()))


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
