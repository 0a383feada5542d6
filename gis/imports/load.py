"""The database side of an import, set-based: the checked rows go into a staging table by one
binary COPY, the checks that need the database are joins against it, and the assets are written
from it by INSERTs and one UPDATE, inside the caller's transaction.

A large import into an empty table is loaded as the demo is (gis/demo/copy.py), without staging:
the table locked (nothing to check the rows against), the rows copied straight into it, keys and
indexes dropped and rebuilt once, the progress tallies and tile cells computed once at the end.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import psycopg
import shapely
from sqlalchemy.orm import Session

from gis.crs import STORAGE_SRID
from gis.demo import binary
from gis.demo.copy import (
    bulk_settings,
    copy_columns,
    keys_dropped,
    recount,
    tallied_at_end,
    truncate_assets,
)
from gis.demo.data import TEXT
from gis.imports.columns import ASSET_FIELDS

CODE_KEY = "assets_code_key"  # the unique constraint on assets.code (migration 0001)
BULK_MIN = 100_000  # rows into an empty table from which the keys are rebuilt rather than kept

# Every staged value is text ('' is NULL) but the row number and the geometry; the INSERT casts.
STAGED = (*ASSET_FIELDS, "extra", "extra_personal")
_CASTS = {
    "batch": "smallint",
    "households": "smallint",
    "planned_investment_wan": "numeric",
    "funds_secured_wan": "numeric",
    "poverty_alleviated_area": "boolean",
    "worst_hit_area": "boolean",
    "percent": "smallint",
    "extra": "jsonb",
    "extra_personal": "jsonb",
}
_DEFAULTS = {
    "poverty_alleviated_area": "false",
    "worst_hit_area": "false",
    "stage": "'not_started'",
    "percent": "0",
    "extra": "'{}'",
    "extra_personal": "'{}'",
}
INVENTORY = tuple(c for c in STAGED if c not in ("code", "stage", "percent"))
INITIAL_NOTE = "台账导入时的状态 state in the imported inventory"


def _driver(session: Session) -> psycopg.Connection:
    return session.connection().connection.driver_connection


def stage(session: Session, columns: dict[str, np.ndarray], geometry: np.ndarray) -> None:
    """COPY the rows (``columns``: ``n`` and STAGED, text with '' for NULL) into ``import_rows``,
    a temporary table dropped at commit."""
    conn = _driver(session)
    conn.execute("DROP TABLE IF EXISTS import_rows")
    conn.execute(
        "CREATE TEMP TABLE import_rows (n bigint PRIMARY KEY, "
        + ", ".join(f"{c} text" for c in STAGED)
        + f", geom geometry(Geometry, {STORAGE_SRID})) ON COMMIT DROP"
    )
    data = {"n": columns["n"].astype(np.int64)}
    data |= {c: np.asarray(columns[c], dtype=TEXT) for c in STAGED}
    # As WKB (None for none: an update may keep the location); the column gives it its SRID.
    data["geom"] = shapely.to_wkb(geometry)
    copy_columns(conn, "import_rows", data)


def existing(session: Session) -> list[tuple[int, int, str, str, str, int, str]]:
    """Staged rows whose code an asset already has: (n, id, layer, county, stage, percent,
    name)."""
    return (
        _driver(session)
        .execute(
            "SELECT s.n, a.id, a.layer, a.county_adcode, a.stage, a.percent, a.name "
            "FROM import_rows s JOIN assets a ON a.code = s.code"
        )
        .fetchall()
    )


def highest_numbers(session: Session, prefix: str) -> dict[str, int]:
    """The highest number of the tracker-format codes (PREFIX-ADCODE-NNNNN) per county."""
    rows = (
        _driver(session)
        .execute(
            "SELECT split_part(code, '-', 2), max(CAST(split_part(code, '-', 3) AS bigint)) "
            "FROM assets WHERE code ~ ('^' || %(p)s || '-[0-9]{6}-[0-9]{1,12}$') GROUP BY 1",
            {"p": prefix},
        )
        .fetchall()
    )
    return {county: int(number) for county, number in rows}


def keep_names(session: Session, numbers: list[int]) -> None:
    """Matched rows keep their asset's name: a name made for the row is not an update."""
    if numbers:
        _driver(session).execute(
            "UPDATE import_rows SET name = NULL WHERE n = ANY(%(n)s)", {"n": numbers}
        )


def drop_rows(session: Session, numbers: list[int]) -> None:
    if numbers:
        _driver(session).execute("DELETE FROM import_rows WHERE n = ANY(%(n)s)", {"n": numbers})


def _value(column: str) -> str:
    cast = f"CAST(s.{column} AS {_CASTS[column]})" if column in _CASTS else f"s.{column}"
    return f"coalesce({cast}, {_DEFAULTS[column]})" if column in _DEFAULTS else cast


def create(
    session: Session,
    *,
    layer: str,
    skip: list[int],
    observed_at: dt.datetime,
    reporter: int | None,
) -> int:
    """Insert the staged rows, but those numbered in ``skip``, as assets of ``layer``; those
    not 未开工 get their stage as a first event (as gis/assets.insert_asset does). Returns how
    many assets."""
    conn = _driver(session)
    columns = list(STAGED)
    created = conn.execute(
        f"""
        INSERT INTO assets (layer, {", ".join(columns)}, stage_observed_at, geom)
        SELECT %(layer)s, {", ".join(_value(c) for c in columns)},
               CASE WHEN coalesce(s.stage, 'not_started') <> 'not_started'
                    THEN CAST(%(observed)s AS timestamptz) END,
               s.geom
          FROM import_rows s
         WHERE NOT s.n = ANY(%(skip)s)
         ORDER BY s.county_adcode, s.n
        """,
        {"layer": layer, "observed": observed_at, "skip": skip},
    ).rowcount
    _first_events(
        conn,
        "import_rows s JOIN assets a ON a.code = s.code AND NOT s.n = ANY(%(skip)s)",
        {"observed": observed_at, "reporter": reporter, "skip": skip},
    )
    return created


def _first_events(conn: psycopg.Connection, created: str, params: dict) -> None:
    """The first event of each asset of ``created`` (SQL naming them ``a``) not 未开工."""
    conn.execute(
        f"""
        INSERT INTO asset_events (id, asset_id, stage, percent, observed_at, reporter_id, note)
        SELECT gen_random_uuid(), a.id, a.stage, a.percent, %(observed)s, %(reporter)s,
               %(note)s
          FROM {created}
         WHERE a.stage <> 'not_started'
        """,
        {**params, "note": INITIAL_NOTE},
    )


def bulk_ready(session: Session, rows: int) -> bool:
    """Whether ``rows`` new assets are a bulk load: at least BULK_MIN into an empty table. If so
    every table the load empties or whose keys it drops stays locked until the transaction
    ends, so that the table is still empty when they are written (nothing to check them
    against) and nobody sees it meanwhile. When those locks cannot be had within
    BULK_LOCK_WAIT, or waiting for them would deadlock (another import read the counties and
    waits for the assets this one would hold), the rows are staged instead."""
    if rows < BULK_MIN:
        return False
    conn = _driver(session)
    if conn.execute("SELECT EXISTS (SELECT FROM assets)").fetchone()[0]:
        return False  # not locked: an import into a kept table leaves it readable
    conn.execute("SAVEPOINT bulk_locks")
    try:
        locked = _empty_and_locked(conn)
    except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable):
        locked = False
    if not locked:
        conn.execute("ROLLBACK TO SAVEPOINT bulk_locks")  # and the locks it took let go
    conn.execute("RELEASE SAVEPOINT bulk_locks")
    return locked


def copy_new(
    session: Session,
    *,
    layer: str,
    columns: dict[str, np.ndarray],
    geometry: np.ndarray,
    observed_at: dt.datetime,
    reporter: int | None,
) -> int:
    """COPY checked rows (``columns``: ``n`` and STAGED, text with '' for NULL) as assets of
    ``layer`` into the table ``bulk_ready`` locked, as the demo is loaded: in county order, keys
    and indexes rebuilt once, tallies and tile cells counted at the end; those not 未开工 get
    their first event as ``create`` gives it. No staging table: the INSERT's casts and defaults
    are done in numpy. Returns how many."""
    conn = _driver(session)
    counties, _ = pd.factorize(columns["county_adcode"], sort=True)  # numbered in code order
    order = np.lexsort((columns["n"], counties))
    observed = np.datetime64(observed_at.astimezone(dt.UTC).replace(tzinfo=None), "us")

    def typed(chunk: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        data = {"layer": np.full(len(chunk["geom"]), layer, dtype=TEXT)}
        data |= {c: _typed(c, chunk[c]) for c in STAGED}
        data["stage_observed_at"] = np.where(
            data["stage"] != "not_started", observed, np.datetime64("NaT", "us")
        )
        return data | {"geom": shapely.to_wkb(chunk["geom"])}

    rows = {c: np.asarray(columns[c], dtype=object)[order] for c in STAGED}
    rows["geom"] = geometry[order]
    # Emptied so that they are loaded without WAL (truncate_assets). They are empty already, and
    # so are the tables its CASCADE reaches (event_photos, report_reviews): their references to
    # asset_events, and those of asset_events to assets, are NOT NULL.
    truncate_assets(conn)
    with _bulk(conn):
        copy_columns(conn, "assets", rows, freeze=True, convert=typed)
        # Every asset is new: the table was empty and is locked.
        _first_events(conn, "assets a", {"observed": observed_at, "reporter": reporter})
    recount(conn)
    return len(order)


def _typed(column: str, text: np.ndarray) -> np.ndarray:
    """A staged column as gis.demo.binary writes its type: ``_value``'s casts and defaults."""
    if column in _DEFAULTS:
        text = np.where(text == "", _DEFAULTS[column].strip("'"), text)
    cast = _CASTS.get(column)
    if cast == "smallint":  # 0 is NULL for batch and households (binary.ZERO_IS_NULL)
        return np.where(text == "", "0", text).astype(np.int16)
    if cast == "numeric":  # masked: NULL
        return np.ma.masked_array(np.where(text == "", "0", text).astype(float), text == "")
    if cast == "boolean":
        return text == "true"
    if cast == "jsonb":
        return binary.jsonb(text)
    return np.asarray(text, dtype=TEXT)


# Every table a bulk load locks: those it empties (assets and its history, with what TRUNCATE
# ... CASCADE reaches; the recount's tallies and tile cells) and those whose foreign keys to or
# from them it drops (DROP CONSTRAINT locks the referenced table as well: counties, users...).
_LOCKED_BY_BULK = """
SELECT DISTINCT CAST(CAST(t AS regclass) AS text)
  FROM pg_constraint, unnest(ARRAY[conrelid, confrelid]) AS t
 WHERE contype = 'f'
   AND (conrelid = ANY(%(tables)s::regclass[]) OR confrelid = ANY(%(tables)s::regclass[]))
"""
# First those that every import (and most requests) read before anything else: a load waiting
# for them holds nothing yet that the reader will wait for in turn.
_LOCK_FIRST = ("counties", "assets", "asset_events")
BULK_LOCK_WAIT = "5s"  # then the rows are staged rather than hold up every reader of the tables


def _empty_and_locked(conn: psycopg.Connection) -> bool:
    """Lock what a bulk load locks, all at once; then whether assets is still empty."""
    related = conn.execute(_LOCKED_BY_BULK, {"tables": ["assets", "asset_events"]}).fetchall()
    rest = sorted({t for (t,) in related} | {"progress_tallies", "tile_cells"})
    tables = [*_LOCK_FIRST, *(t for t in rest if t not in _LOCK_FIRST)]
    before = conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0]
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (BULK_LOCK_WAIT,))
    conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
    return conn.execute("SELECT NOT EXISTS (SELECT FROM assets)").fetchone()[0]


@contextmanager
def _bulk(conn: psycopg.Connection) -> Iterator[None]:
    tables = ["assets", "asset_events"]
    with bulk_settings(conn), keys_dropped(conn, tables), tallied_at_end(conn):
        yield


def update(session: Session, *, rows: list[int], given: list[str]) -> int:
    """Update the inventory fields ``given`` (columns the file has) of the assets matched by
    the staged rows ``rows``; an empty cell leaves the field as it is. Returns how many assets
    changed (the others were the same already)."""
    fields = [c for c in INVENTORY if c in given] + ["geom"]
    if not rows:
        return 0
    new = {c: ("s.geom" if c == "geom" else _value(c)) for c in fields}
    if "extra" in new:
        new["extra"] = "a.extra || coalesce(CAST(s.extra AS jsonb), '{}')"
    if "extra_personal" in new:
        new["extra_personal"] = (
            "a.extra_personal || coalesce(CAST(s.extra_personal AS jsonb), '{}')"
        )
    assigned = {
        c: f"coalesce({v}, a.{c})" if c not in ("extra", "extra_personal") else v
        for c, v in new.items()
    }
    changed = " OR ".join(
        f"a.{c} IS DISTINCT FROM {v}" if c != "geom" else f"NOT ST_OrderingEquals(a.geom, {v})"
        for c, v in assigned.items()
    )
    result = _driver(session).execute(
        f"""
        UPDATE assets a
           SET {", ".join(f"{c} = {v}" for c, v in assigned.items())},
               version = a.version + 1, updated_at = now()
          FROM import_rows s
         WHERE a.code = s.code AND s.n = ANY(%(n)s) AND ({changed})
        """,
        {"n": rows},
    )
    return result.rowcount
