"""Loading the demo data set: COPY in one transaction, with the tables' keys and indexes rebuilt
once at the end, and each county generated while the one before it is being written."""

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Engine

from gis.demo import binary
from gis.demo.data import STAGE_NAMES, Columns, DemoData
from gis.demo.generator import generate_by_county, read_counties
from gis.errors import Conflict
from gis.settings import Settings
from gis.vocab import LAYERS


@dataclass(frozen=True)
class DemoReport:
    counts: dict[str, int]  # assets per layer
    events: int
    seconds: float

    @property
    def features_per_second(self) -> float:
        return sum(self.counts.values()) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        """Two lines, Chinese then English."""
        zh = "、".join(f"{LAYERS[layer].zh} {n:,}" for layer, n in self.counts.items())
        layers = ", ".join(f"{n:,} {layer.replace('_', ' ')}" for layer, n in self.counts.items())
        return (
            f"已载入演示数据：{zh}，进度记录 {self.events:,} 条，用时 {self.seconds:.1f} 秒\n"
            f"loaded {layers} and {self.events:,} events in {self.seconds:.1f} s "
            f"({self.features_per_second:,.0f} features/s)"
        )


def load_demo(
    engine: Engine,
    settings: Settings,
    *,
    scale: float = 1.0,
    seed: int | None = None,
    replace: bool = False,
) -> DemoReport:
    """Generate the demo data set and load it in one transaction; see ``load_data``."""
    started = time.perf_counter()
    seed = settings.demo_seed if seed is None else seed
    counties = read_counties(engine)
    parts = generate_by_county(counties, scale=scale, seed=seed, data_dir=settings.data_dir)
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.transaction():
            report = load_data(raw.driver_connection, _prefetched(parts), replace=replace)
    finally:
        raw.close()
    return dataclasses.replace(report, seconds=time.perf_counter() - started)


# The append-only tables of the audit trail refuse TRUNCATE; replacing the demo empties them.
_TRUNCATE_GUARDS = (
    ("asset_events", "asset_events_no_truncate"),
    ("event_photos", "event_photos_no_truncate"),
    ("report_reviews", "report_reviews_no_truncate"),
)


def load_data(
    conn: psycopg.Connection, parts: Iterable[DemoData], *, replace: bool = False
) -> DemoReport:
    """COPY ``parts`` into the database inside the caller's transaction.

    Refuses if any asset exists, unless ``replace``: then every asset and its history go first.
    """
    started = time.perf_counter()
    conn.execute("LOCK TABLE assets, asset_events IN ACCESS EXCLUSIVE MODE")
    existing = conn.execute("SELECT count(*) FROM assets").fetchone()[0]
    if existing and not replace:
        raise Conflict(
            f"数据库中已有 {existing:,} 个资产，演示数据只能载入空数据库。请使用新数据库，"
            "或加 --replace（将删除全部现有资产及其进度记录）。",
            f"The database already holds {existing:,} assets; the demo loads only into an "
            "empty one. Use a fresh database, or --replace (deletes every asset and its history).",
        )
    if existing:
        truncate_assets(conn)
    counts, events = dict.fromkeys(LAYERS, 0), 0
    with keys_dropped(conn, ["assets", "asset_events"]), tallied_at_end(conn):
        for part in parts:
            copy_columns(conn, "assets", part.assets)
            _copy_events(conn, part.events)
            counts = {layer: counts[layer] + n for layer, n in part.counts().items()}
            events += len(part.events["id"])
    conn.execute("SELECT setval(pg_get_serial_sequence('assets', 'id'), max(id)) FROM assets")
    recount(conn)
    conn.execute(
        "INSERT INTO app_meta (key, value) VALUES ('demo', jsonb_build_object('loaded_at', now()))"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
    return DemoReport(counts, events, time.perf_counter() - started)


def truncate_assets(conn: psycopg.Connection) -> None:
    """Empty the assets and their history. asset_events is append-only and its trigger rejects
    TRUNCATE: replacing the demo and a bulk import into empty tables are the sanctioned
    exceptions, so the guards are off for this statement only, inside the transaction (if
    anything fails, they are back on). With wal_level = minimal (gis/localdb.py), what is then
    loaded into the emptied tables in the same transaction is not written to the WAL."""
    for table, trigger in _TRUNCATE_GUARDS:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    conn.execute("TRUNCATE asset_events, assets CASCADE")
    for table, trigger in _TRUNCATE_GUARDS:
        conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def _prefetched(parts: Iterator[DemoData]) -> Iterator[DemoData]:
    """``parts``, each next one generated in a thread while the caller loads the current one
    (numpy, shapely and the database all work outside Python's global lock)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(next, parts, None)
        while (part := upcoming.result()) is not None:
            upcoming = pool.submit(next, parts, None)
            yield part


_KEYS_AND_INDEXES = """
SELECT format('ALTER TABLE %%s DROP CONSTRAINT %%I', conrelid::regclass, conname),
       format('ALTER TABLE %%s ADD CONSTRAINT %%I %%s', conrelid::regclass, conname,
              pg_get_constraintdef(oid)),
       CASE contype WHEN 'f' THEN 0 ELSE 1 END
  FROM pg_constraint
 WHERE contype IN ('f', 'p', 'u', 'x')
   AND (conrelid = ANY(%(tables)s::regclass[]) OR confrelid = ANY(%(tables)s::regclass[]))
UNION ALL
SELECT format('DROP INDEX %%s', indexrelid::regclass), pg_get_indexdef(indexrelid), 2
  FROM pg_index
 WHERE indrelid = ANY(%(tables)s::regclass[])
   AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)
 ORDER BY 3
"""


@contextmanager
def keys_dropped(conn: psycopg.Connection, tables: list[str]) -> Iterator[None]:
    """Drop the tables' keys, foreign keys and indexes for a bulk load into them, then rebuild.

    PostgreSQL's advice for populating a database: an index built over the loaded rows is many
    times faster than one updated row by row, and a foreign key added afterwards checks every
    row in one join instead of one query per row. Sound only for a load into empty tables in
    one transaction (nobody else sees them meanwhile); every key is checked again when re-added.
    """
    statements = conn.execute(_KEYS_AND_INDEXES, {"tables": tables}).fetchall()
    for drop, _, _ in statements:
        conn.execute(drop)
    yield
    for _, create, _ in reversed(statements):
        conn.execute(create)


# The triggers that keep progress_tallies look up each loaded asset's history, which is slow
# while the indexes are dropped, and those that keep tile_cells upsert a few rows per chunk of
# assets; for a bulk load they are off, and both are computed once from everything at the end
# (after the indexes are back), inside the same transaction.
_TALLY_TRIGGERS = (
    ("assets", "tally_assets_insert"),
    ("asset_events", "tally_events"),
    ("assets", "tile_cells_assets_insert"),
)


@contextmanager
def tallied_at_end(conn: psycopg.Connection) -> Iterator[None]:
    for table, trigger in _TALLY_TRIGGERS:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    yield
    for table, trigger in _TALLY_TRIGGERS:
        conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def recount(conn: psycopg.Connection) -> None:
    """What the triggers turned off by ``tallied_at_end`` would have kept, computed from every
    asset: the progress tallies and the tile cells, the latter's key built after its rows are
    in (as ``keys_dropped``: both tables are rewritten whole, inside the load's transaction).
    The loaded tables are analyzed first: planned as the few rows they held before the load,
    the recounts took half as long again."""
    conn.execute("ANALYZE assets, asset_events")
    # Emptied in the transaction, they are written without WAL (see truncate_assets).
    conn.execute("TRUNCATE progress_tallies, tile_cells")
    with bulk_settings(conn), keys_dropped(conn, ["tile_cells"]):
        conn.execute("SELECT tally_rebuild(), tile_cells_rebuild()")


# Statements over a whole bulk load: sorts and hashes of a million rows fit in memory instead of
# spilling to disk, and no JIT compilation (it cost more than it saved on each of them: 0.3 s
# of the tallies' recount of 200,000 houses, for instance).
_BULK_SETTINGS = {"work_mem": "256MB", "jit": "off"}


@contextmanager
def bulk_settings(conn: psycopg.Connection) -> Iterator[None]:
    """``_BULK_SETTINGS`` for the statements inside, then the caller's settings again."""
    before = {
        name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]
        for name in _BULK_SETTINGS
    }
    for name, value in _BULK_SETTINGS.items():
        conn.execute("SELECT set_config(%s, %s, true)", (name, value))
    yield
    for name, value in before.items():
        conn.execute("SELECT set_config(%s, %s, true)", (name, value))


_ROWS_PER_CHUNK = 50_000


def copy_columns(
    conn: psycopg.Connection,
    table: str,
    columns: Columns,
    *,
    freeze: bool = False,
    convert: Callable[[Columns], Columns] | None = None,
) -> None:
    """COPY ``columns`` (named as the table's) into ``table`` in binary format, in chunks. The
    queued writer sends each chunk from a thread of its own, so PostgreSQL reads one chunk
    while numpy builds the next; ``convert`` makes the table's columns of a chunk, so that it
    is done meanwhile too. ``freeze`` (for a table emptied by TRUNCATE in the same
    subtransaction): the rows are written frozen, so the statements that read them next do not
    rewrite every page to set their hint bits."""
    rows = len(next(iter(columns.values())))
    chunks = (
        {name: v[start : start + _ROWS_PER_CHUNK] for name, v in columns.items()}
        for start in range(0, rows, _ROWS_PER_CHUNK)
    )
    if convert is not None:
        chunks = map(convert, chunks)
    first = next(chunks, None)
    if first is None:
        return
    cursor = conn.cursor()
    options = "FORMAT binary, FREEZE" if freeze else "FORMAT binary"
    sql = f"COPY {table} ({', '.join(first)}) FROM STDIN ({options})"
    with cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(binary.SIGNATURE)
        for chunk in itertools.chain([first], chunks):
            copy.write(binary.rows(chunk).tobytes())
        copy.write(binary.TRAILER)


def _copy_events(conn: psycopg.Connection, events: Columns) -> None:
    """COPY in binary format, in one block per stage: within a stage every row has the same
    length, so numpy builds a block as one record array and it costs next to nothing."""
    sql = "COPY asset_events (id, asset_id, stage, percent, observed_at, received_at) FROM STDIN"
    with conn.cursor().copy(sql + " (FORMAT binary)") as copy:
        copy.write(binary.SIGNATURE)
        for stage in STAGE_NAMES:
            mask = events["stage"] == stage
            copy.write(binary.event_rows(events, mask, str(stage).encode()).tobytes())
        copy.write(binary.TRAILER)
