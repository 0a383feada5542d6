"""The SQL of deciding on reports, set-based: one statement per kind of fact or write for a whole
batch of reports (a /sync of 1,000 reports costs the same handful of round trips as one)."""

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gis import db

# The report path runs its fixed statements on the driver itself (psycopg, inside the session's
# transaction): SQLAlchemy's statement handling was a fifth of the server's CPU per report.
_LOCK = """
    SELECT id, layer, county_adcode, stage, percent, stage_observed_at, version
      FROM assets WHERE id = ANY(CAST(%(ids)s AS bigint[]))
     ORDER BY id
       FOR UPDATE
    """
# Asked after the locks are held, in a statement of its own: under READ COMMITTED a statement
# sees what was committed before it began, so a copy of a report committed by another request
# while this one waited for the lock is seen here.
_RECEIVED = "SELECT id, asset_id FROM asset_events WHERE id = ANY(CAST(%(ids)s AS uuid[]))"
_DISTANCES = """
    SELECT u.n, ST_Distance(a.geom::geography,
                            ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography)
      FROM unnest(CAST(%(n)s AS int[]), CAST(%(asset)s AS bigint[]), CAST(%(lon)s AS float8[]),
                  CAST(%(lat)s AS float8[])) AS u(n, asset_id, lon, lat)
      JOIN assets a ON a.id = u.asset_id
    """
_PHOTOS = """
    SELECT u.n, p.id, p.uploaded_by, ST_Distance(p.geom::geography, a.geom::geography)
      FROM unnest(CAST(%(n)s AS int[]), CAST(%(asset)s AS bigint[]), CAST(%(photo)s AS text[]))
           AS u(n, asset_id, photo_id)
      JOIN photos p ON p.id = u.photo_id
      JOIN assets a ON a.id = u.asset_id
    """
# Events, their photo links and the assets' new states in one statement (one round trip): the
# links refer to events inserted by the same statement, which foreign keys allow because they
# are checked at its end.
_WRITE = """
    WITH events AS (
        INSERT INTO asset_events (
            id, asset_id, stage, percent, observed_at, reporter_id, reporter_geom,
            reporter_crs, reporter_lon, reporter_lat, reporter_accuracy_m, distance_m,
            prev_stage, prev_percent, base_version, flags, note, reason)
        SELECT u.id, u.asset_id, u.stage, u.percent, u.observed_at, %(reporter)s,
               CASE WHEN u.lon IS NULL THEN NULL
                    ELSE ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326) END,
               u.crs, u.raw_lon, u.raw_lat, u.accuracy, u.distance, u.prev_stage,
               u.prev_percent, u.base_version, string_to_array(u.flags, ','), u.note, u.reason
          FROM unnest(
               CAST(%(id)s AS uuid[]), CAST(%(asset)s AS bigint[]), CAST(%(stage)s AS text[]),
               CAST(%(percent)s AS smallint[]), CAST(%(observed)s AS timestamptz[]),
               CAST(%(lon)s AS float8[]), CAST(%(lat)s AS float8[]), CAST(%(crs)s AS text[]),
               CAST(%(raw_lon)s AS float8[]), CAST(%(raw_lat)s AS float8[]),
               CAST(%(accuracy)s AS real[]), CAST(%(distance)s AS real[]),
               CAST(%(prev_stage)s AS text[]), CAST(%(prev_percent)s AS smallint[]),
               CAST(%(base_version)s AS int[]), CAST(%(flags)s AS text[]), CAST(%(note)s AS text[]),
               CAST(%(reason)s AS text[]))
            AS u(id, asset_id, stage, percent, observed_at, lon, lat, crs, raw_lon, raw_lat,
                 accuracy, distance, prev_stage, prev_percent, base_version, flags, note,
                 reason)
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    ), links AS (
        INSERT INTO event_photos (event_id, photo_id)
        SELECT * FROM unnest(CAST(%(link_event)s AS uuid[]), CAST(%(link_photo)s AS text[]))
    ), states AS (
        UPDATE assets a
           SET stage = u.stage, percent = u.percent, stage_observed_at = u.observed_at,
               version = a.version + u.bumps, updated_at = now()
          FROM unnest(CAST(%(moved)s AS bigint[]), CAST(%(new_stage)s AS text[]),
                      CAST(%(new_percent)s AS smallint[]), CAST(%(new_observed)s AS timestamptz[]),
                      CAST(%(bumps)s AS int[]))
               AS u(id, stage, percent, observed_at, bumps)
         WHERE a.id = u.id
    )
    SELECT id FROM events
    """

EVENT_COLUMNS = (
    "id", "asset", "stage", "percent", "observed", "lon", "lat", "crs", "raw_lon", "raw_lat",
    "accuracy", "distance", "prev_stage", "prev_percent", "base_version", "flags", "note",
    "reason",
)  # fmt: skip


@dataclass
class AssetState:
    """An asset as locked, and as the batch's decisions move it along."""

    id: int
    layer: str
    county_adcode: str
    stage: str
    percent: int
    observed_at: dt.datetime | None
    version: int
    applied: int = 0  # reports of this batch that became its state


@dataclass(frozen=True)
class PhotoFact:
    id: str
    uploaded_by: int | None
    distance_m: float | None  # from its EXIF position to the asset


def lock_assets(session: Session, ids: list[int]) -> dict[int, AssetState]:
    """Lock the assets (in id order, so concurrent batches never deadlock) and read them."""
    rows = db.driver_rows(session, _LOCK, {"ids": sorted(set(ids))})
    return {r.id: AssetState(r.id, r.layer, r.county_adcode, r.stage, r.percent,
                             r.stage_observed_at, r.version) for r in rows}  # fmt: skip


def received(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Report id -> asset, for the ids already in the history."""
    return {r.id: r.asset_id for r in db.driver_rows(session, _RECEIVED, {"ids": ids})}


def distances(session: Session, points: dict[int, tuple[int, float, float]]) -> dict[int, float]:
    """For each key n: the distance in metres from (lon, lat) in EPSG:4326 to asset ``id`` (to
    its nearest part)."""
    if not points:
        return {}
    keys = list(points)
    rows = db.driver_rows(
        session,
        _DISTANCES,
        {
            "n": keys,
            "asset": [points[k][0] for k in keys],
            "lon": [points[k][1] for k in keys],
            "lat": [points[k][2] for k in keys],
        },
    )
    return {n: float(d) for n, d in rows}


def photos(
    session: Session, wanted: dict[int, tuple[int, list[str]]]
) -> dict[int, list[PhotoFact]]:
    """For each key n with (asset id, photo ids): the photos that exist, with who uploaded them
    and how far their EXIF position lies from the asset."""
    n, asset, photo = [], [], []
    for key, (asset_id, ids) in wanted.items():
        for photo_id in ids:
            n.append(key)
            asset.append(asset_id)
            photo.append(photo_id)
    found: dict[int, list[PhotoFact]] = {key: [] for key in wanted}
    if n:
        for key, photo_id, by, distance in db.driver_rows(
            session, _PHOTOS, {"n": n, "asset": asset, "photo": photo}
        ):
            found[key].append(
                PhotoFact(photo_id, by, None if distance is None else float(distance))
            )
    return found


def write(
    session: Session,
    *,
    rows: list[dict[str, Any]],
    reporter: int | None,
    links: list[tuple[uuid.UUID, str]],
    states: list[AssetState],
) -> set[uuid.UUID]:
    """Append the events (``rows``, keyed by EVENT_COLUMNS) and their photo links, and write
    the new state of each asset a report moved; returns the event ids written (an id already
    taken is skipped)."""
    if not rows:
        return set()
    moved = [s for s in states if s.applied]
    params = {key: [row[key] for row in rows] for key in EVENT_COLUMNS}
    params |= {
        "reporter": reporter,
        "link_event": [e for e, _ in links],
        "link_photo": [p for _, p in links],
        "moved": [s.id for s in moved],
        "new_stage": [s.stage for s in moved],
        "new_percent": [s.percent for s in moved],
        "new_observed": [s.observed_at for s in moved],
        "bumps": [s.applied for s in moved],
    }
    return {r.id for r in db.driver_rows(session, _WRITE, params)}
