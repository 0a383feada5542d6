"""The benchmark's own database in the project-local cluster: created fresh, filled with the
demo data set through the product's loader, given accounts, dropped at the end."""

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from gis import db, demo, localdb, provision, users
from gis.settings import Settings

NAME = "rebuild_bench"
LARGE = "rebuild_bench_large"  # a million houses, for progress, tiles and maps
ADMIN = "bench-admin"
VIEWER = "bench-viewer"


@dataclass(frozen=True)
class BenchDatabase:
    cluster: localdb.Cluster
    name: str
    url: str
    password: str  # of both accounts; lives only as long as the database
    load: dict[str, Any]

    @property
    def engine(self) -> Engine:
        return db.make_engine(self.url)

    def settings(self) -> Settings:
        return Settings(database_url=self.url)

    def libpq_url(self) -> str:
        """A ``postgresql://`` URL over the unix socket, for tipg (asyncpg): the socket folder,
        URL-encoded, stands in the host part."""
        folder = str(self.cluster.sockdir).replace("/", "%2F").replace(" ", "%20")
        return f"postgresql://{localdb.SUPERUSER}@{folder}:{self.cluster.port}/{self.name}"


def create(settings: Settings, *, scale: float = 1, name: str = NAME) -> BenchDatabase:
    """Drop and recreate the bench database ``name``, migrate it, load the demo at ``scale``,
    and add an administrator and a city viewer with a random password."""
    cluster = localdb.up(settings)
    localdb.drop_database(cluster, name)
    url = localdb.ensure_database(cluster, name)
    started = time.perf_counter()
    db.migrate(url)
    engine = db.make_engine(url)
    bench_settings = Settings(database_url=url)
    provision.load_reference(engine, bench_settings)
    report = demo.load_demo(engine, bench_settings, scale=scale)
    password = secrets.token_urlsafe(16)
    with db.transaction(engine) as session:
        users.add_user(session, username=ADMIN, password=password, role="admin")
        users.add_user(session, username=VIEWER, password=password, role="viewer")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        counts = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM assets), (SELECT count(*) FROM asset_events), "
                "(SELECT count(*) FROM assets WHERE layer = 'houses'), "
                "pg_database_size(current_database())"
            )
        ).one()
    load = {
        "scale": scale,
        "seed": bench_settings.demo_seed,
        "assets": counts[0],
        "events": counts[1],
        "houses": counts[2],
        "database_mb": round(counts[3] / 1e6),
        "prepare_seconds": round(time.perf_counter() - started, 1),
        "demo_load_seconds": round(report.seconds, 1),
    }
    return BenchDatabase(cluster, name, url, password, load)


def drop(bench: BenchDatabase) -> None:
    bench.engine.dispose()
    localdb.drop_database(bench.cluster, bench.name)


def backend_pids(bench: BenchDatabase) -> list[int]:
    """PostgreSQL's processes that work for the servers under test: the backends connected to
    the bench database (other than this process's) and the cluster's background processes
    (WAL writer, checkpointer, …), but not other databases' backends."""
    with bench.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE (datname = current_database() AND pid <> pg_backend_pid()) "
                    "OR backend_type <> 'client backend'"
                )
            ).scalars()
        )


def postmaster_pid(bench: BenchDatabase) -> int | None:
    """The cluster's postmaster (whose ended children are backends that have gone)."""
    try:
        return int((bench.cluster.datadir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def sessions(bench: BenchDatabase) -> int:
    """Connections opened to the bench database so far (PostgreSQL 14 and later)."""
    with bench.engine.connect() as conn:
        return conn.execute(
            text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


@dataclass(frozen=True)
class Asset:
    id: int
    lon: float  # EPSG:4326, a point on or next to the asset
    lat: float
    version: int


def assets(bench: BenchDatabase, where: str, limit: int, *, skip: set[int]) -> list[Asset]:
    """Up to ``limit`` assets matching ``where`` (a constant SQL condition on ``a``), by id,
    leaving out ``skip``."""
    with bench.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.id, ST_X(p), ST_Y(p), a.version FROM assets a, "
                f"LATERAL ST_PointOnSurface(a.geom) p WHERE {where} ORDER BY a.id"
            )
        ).all()
    picked = [Asset(r[0], r[1], r[2], r[3]) for r in rows if r[0] not in skip]
    return picked[:limit]
