"""Photo evidence in the database: registering an upload, and who may see a photo.

The bytes are checked and stored by ``gis.photos``; this module records the photo once per
content hash (a re-upload changes nothing) and answers whether a principal may see it: its
uploader, city-wide roles, and anyone who may read an asset whose report carries it.
"""

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import access, photos
from gis.errors import NotFound

PHOTO_JSON = """
    json_build_object(
        'id', p.id,
        'content_type', p.content_type,
        'width', p.width,
        'height', p.height,
        'bytes', p.bytes,
        'taken_at', p.taken_at,
        'location', CASE WHEN p.geom IS NULL THEN NULL ELSE
            json_build_object('lon', round(ST_X(p.geom)::numeric, 7),
                              'lat', round(ST_Y(p.geom)::numeric, 7)) END,
        'uploaded_at', p.uploaded_at,
        'url', '/photos/' || p.id,
        'thumbnail_url', '/photos/' || p.id || '/thumbnail'
    )
"""


def save_photo(
    session: Session,
    *,
    principal: access.Principal,
    data: bytes,
    media_dir: Path,
    max_bytes: int,
) -> tuple[dict[str, Any], bool]:
    """Check, store and register a photo; returns its JSON and whether it is new."""
    access.require_role(principal, *access.REPORTING_ROLES)
    info = photos.inspect_photo(data, max_bytes=max_bytes)
    photos.store_photo(media_dir, info, data)
    created = session.execute(
        text(
            """
            INSERT INTO photos (id, content_type, bytes, width, height, taken_at, geom,
                                uploaded_by)
            VALUES (:id, :type, :bytes, :w, :h, :taken,
                    CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END, :by)
            ON CONFLICT (id) DO NOTHING RETURNING id
            """
        ),
        {
            "id": info.id,
            "type": info.content_type,
            "bytes": info.bytes,
            "w": info.width,
            "h": info.height,
            "taken": info.taken_at,
            "lon": info.lon,
            "lat": info.lat,
            "by": principal.user_id,
        },
    ).first()
    return photo_json(session, info.id), created is not None


def photo_json(session: Session, photo_id: str) -> dict[str, Any]:
    return session.execute(
        text(f"SELECT {PHOTO_JSON} FROM photos p WHERE p.id = :id"), {"id": photo_id}
    ).scalar_one()


def _not_found(photo_id: str) -> NotFound:
    return NotFound(
        f"照片 {photo_id[:16]} 不存在或您无权查看",
        f"No photo {photo_id!r}, or you may not see it.",
        field="photo_id",
    )


def photo_file(
    session: Session,
    *,
    principal: access.Principal,
    photo_id: str,
    media_dir: Path,
    thumbnail: bool,
) -> tuple[Path, str]:
    """The file of a photo the principal may see, and its content type."""
    row = session.execute(
        text(
            """
            SELECT p.content_type, p.uploaded_by,
                   array(SELECT DISTINCT a.county_adcode
                           FROM event_photos ep
                           JOIN asset_events e ON e.id = ep.event_id
                           JOIN assets a ON a.id = e.asset_id
                          WHERE ep.photo_id = p.id) AS counties
              FROM photos p WHERE p.id = :id
            """
        ),
        {"id": photo_id},
    ).first()
    if row is None or principal.is_anonymous:
        raise _not_found(photo_id)
    allowed = (
        principal.counties is None
        or row.uploaded_by == principal.user_id
        or any(principal.reads(c) for c in row.counties)
    )
    if not allowed:
        raise _not_found(photo_id)
    path = photos.photo_path(media_dir, photo_id, thumbnail=thumbnail)
    return path, "image/jpeg" if thumbnail else row.content_type
