"""Invariants of the field workflow held by the database itself, tried with raw SQL."""

import uuid

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from tests.gis.test_schema import _insert

EVENT = """
INSERT INTO asset_events (id, asset_id, stage, percent, observed_at, flags, reason,
                          reporter_geom, reporter_crs, reporter_lon, reporter_lat)
VALUES (:id, :asset, :stage, :pct, now() - interval '1 day', :flags, :reason,
        CAST(:geom AS geometry), :crs, :lon, :lat)
"""

REVIEW = "INSERT INTO report_reviews (event_id, decision, reviewer_id) VALUES (:e, :d, :u)"


def _event(conn: Connection, asset: int, **overrides) -> uuid.UUID:
    values = {
        "id": uuid.uuid4(),
        "asset": asset,
        "stage": "started",
        "pct": 10,
        "flags": [],
        "reason": None,
        "geom": None,
        "crs": None,
        "lon": None,
        "lat": None,
    }
    values.update(overrides)
    conn.execute(text(EVENT), values)
    return values["id"]


def _refused(conn: Connection, sql: str, params: dict, name: str) -> None:
    with pytest.raises(DBAPIError) as caught, conn.begin_nested():
        conn.execute(text(sql), params)
    diag = caught.value.orig.diag
    assert name in (diag.constraint_name or "") + (diag.message_primary or ""), diag.message_primary


def test_event_flags_come_from_the_list(connection: Connection) -> None:
    asset = _insert(connection)
    with pytest.raises(DBAPIError) as caught, connection.begin_nested():
        _event(connection, asset, flags=["suspicious"])
    assert caught.value.orig.diag.constraint_name == "asset_events_known_flags"


def test_a_backwards_event_carries_its_reason(connection: Connection) -> None:
    asset = _insert(connection)
    with pytest.raises(DBAPIError) as caught, connection.begin_nested():
        _event(connection, asset, flags=["backwards"], reason="  ")
    assert caught.value.orig.diag.constraint_name == "asset_events_backwards_reason"
    _event(connection, asset, flags=["backwards"], reason="再次损毁")


def test_a_reporter_location_is_whole(connection: Connection) -> None:
    asset = _insert(connection)
    with pytest.raises(DBAPIError) as caught, connection.begin_nested():
        _event(connection, asset, geom="SRID=4326;POINT(114.07 35.4)", crs="GCJ-02")
    assert caught.value.orig.diag.constraint_name == "asset_events_location_whole"
    _event(connection, asset, geom="SRID=4326;POINT(114.07 35.4)", crs="GCJ-02",
           lon=114.076, lat=35.398)  # fmt: skip


def _photo(conn: Connection, photo_id: str = "a" * 64) -> str:
    conn.execute(
        text(
            "INSERT INTO photos (id, content_type, bytes, width, height) "
            "VALUES (:id, 'image/jpeg', 10, 4, 3)"
        ),
        {"id": photo_id},
    )
    return photo_id


def _user(conn: Connection, name: str = "schema-user", role: str = "manager") -> int:
    return conn.execute(
        text("INSERT INTO users (username, display_name, role) VALUES (:n, :n, :r) RETURNING id"),
        {"n": name, "r": role},
    ).scalar_one()


@pytest.mark.parametrize("table", ["event_photos", "report_reviews"])
def test_audit_tables_are_append_only(connection: Connection, table: str) -> None:
    asset = _insert(connection)
    event = _event(connection, asset)
    connection.execute(
        text("INSERT INTO event_photos VALUES (:e, :p)"), {"e": event, "p": _photo(connection)}
    )
    connection.execute(text(REVIEW), {"e": event, "d": "rejected", "u": _user(connection)})
    for statement in (f"UPDATE {table} SET event_id = event_id", f"DELETE FROM {table}",
                      f"TRUNCATE {table} CASCADE"):  # fmt: skip
        _refused(connection, statement, {}, "append-only")
    kept = connection.execute(
        text(f"SELECT count(*) FROM {table} WHERE event_id = :e"), {"e": event}
    )
    assert kept.scalar_one() == 1


def test_counting_events_leave_out_rejected_and_held_reports(connection: Connection) -> None:
    asset = _insert(connection)
    plain = _event(connection, asset)
    rejected = _event(connection, asset)
    held = _event(connection, asset, flags=["conflict"])
    confirmed_conflict = _event(connection, asset, flags=["conflict"])
    reviewer = _user(connection)
    for event, decision in ((rejected, "rejected"), (confirmed_conflict, "confirmed")):
        connection.execute(text(REVIEW), {"e": event, "d": decision, "u": reviewer})
    counting = set(connection.execute(text("SELECT id FROM counting_events")).scalars())
    assert {plain, confirmed_conflict} <= counting
    assert not {rejected, held} & counting


def test_tokens_are_stored_as_hashes_only(connection: Connection) -> None:
    user = _user(connection)
    sql = ("INSERT INTO auth_tokens (token_hash, user_id, kind, expires_at) "
           "VALUES (:h, :u, 'bearer', now() + interval '1 hour')")  # fmt: skip
    _refused(connection, sql, {"h": b"plain-token", "u": user}, "auth_tokens_token_hash_check")
    connection.execute(text(sql), {"h": b"x" * 32, "u": user})
    stored = text("SELECT length(token_hash) FROM auth_tokens WHERE user_id = :u")
    assert connection.execute(stored, {"u": user}).scalars().all() == [32]


def test_photo_ids_are_content_hashes(connection: Connection) -> None:
    sql = ("INSERT INTO photos (id, content_type, bytes, width, height) "
           "VALUES (:id, :t, 10, 4, 3)")  # fmt: skip
    _refused(connection, sql, {"id": "../../etc/passwd", "t": "image/jpeg"}, "photos_id_check")
    _refused(connection, sql, {"id": "b" * 64, "t": "image/gif"}, "photos_content_type_check")
    connection.execute(text(sql), {"id": "b" * 64, "t": "image/png"})
    assert connection.execute(text("SELECT count(*) FROM photos")).scalar_one() == 1


def test_roles_and_disabling(connection: Connection) -> None:
    _refused(
        connection,
        "INSERT INTO users (username, display_name, role) VALUES ('x-y', 'x', 'county_manager')",
        {},
        "users_role_check",
    )
    user = _user(connection, role="inspector")
    _refused(
        connection,
        "UPDATE users SET disabled_at = now() WHERE id = :u",
        {"u": user},
        "users_disabled_inactive",
    )
    connection.execute(
        text("UPDATE users SET is_active = false, disabled_at = now() WHERE id = :u"), {"u": user}
    )
    state = text("SELECT role, is_active FROM users WHERE id = :u")
    assert tuple(connection.execute(state, {"u": user}).one()) == ("inspector", False)


def test_moving_an_asset_out_of_its_county_is_refused(connection: Connection) -> None:
    asset = _insert(connection)
    for sql in (
        "UPDATE assets SET geom = ST_GeomFromText('POINT(113.75 35.55)', 4326) WHERE id = :a",
        "UPDATE assets SET county_adcode = '410782' WHERE id = :a",
    ):
        _refused(connection, sql, {"a": asset}, "assets_inside_county")
    connection.execute(
        text("UPDATE assets SET geom = ST_GeomFromText('POINT(114.08 35.41)', 4326) WHERE id = :a"),
        {"a": asset},
    )
    connection.execute(
        text("UPDATE assets SET percent = 0, version = 2 WHERE id = :a"), {"a": asset}
    )
    moved = text("SELECT ST_AsText(geom), version FROM assets WHERE id = :a")
    assert tuple(connection.execute(moved, {"a": asset}).one()) == ("POINT(114.08 35.41)", 2)
