"""Invariants the database itself holds, tried with raw SQL that bypasses gis/ validation."""

import uuid

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

WEIHUI_POINT = "POINT(114.07 35.40)"  # inside 卫辉市 410781
HUIXIAN_POINT = "POINT(113.75 35.55)"  # inside 辉县市 410782

INSERT = """
INSERT INTO assets (code, layer, kind, batch, county_adcode, name, geom, stage, percent)
VALUES (:code, :layer, :kind, :batch, :county, :name, ST_GeomFromText(:wkt, :srid), :stage, :pct)
RETURNING id
"""


def _insert(conn: Connection, **overrides) -> int:
    values = {
        "code": "FW-410781-99001",
        "layer": "houses",
        "kind": "general_repair",
        "batch": None,
        "county": "410781",
        "name": "测试住房",
        "wkt": WEIHUI_POINT,
        "srid": 4326,
        "stage": "not_started",
        "pct": 0,
    }
    values.update(overrides)
    return conn.execute(text(INSERT), values).scalar_one()


def _refused(conn: Connection, constraint: str, **overrides) -> None:
    with pytest.raises(DBAPIError) as caught, conn.begin_nested():
        _insert(conn, **overrides)
    diag = caught.value.orig.diag
    assert constraint in (diag.constraint_name or "") + (diag.message_primary or "")


def test_valid_asset_is_accepted(connection: Connection) -> None:
    asset_id = _insert(connection)
    row = connection.execute(
        text("SELECT version, stage FROM assets WHERE id = :id"), {"id": asset_id}
    ).one()
    assert row == (1, "not_started")


@pytest.mark.parametrize(
    ("constraint", "overrides"),
    [
        ("assets_inside_county", {"wkt": HUIXIAN_POINT}),
        ("assets_inside_county", {"wkt": "POINT(116.40 39.90)"}),
        ("assets_geom_type", {"wkt": "LINESTRING(114.07 35.40, 114.08 35.41)"}),
        ("assets_geom_type", {"layer": "roads", "kind": "village_road", "batch": 1}),
        ("assets_geom_valid", {"wkt": "POINT EMPTY"}),
        ("SRID (3857) does not match", {"srid": 3857}),
        ("assets_county_adcode_fkey", {"county": "410799"}),
        ("assets_kind_fkey", {"kind": "reservoir"}),
        ("assets_stage_fkey", {"stage": "finished"}),
        ("assets_percent_fits_stage", {"stage": "completed", "pct": 80}),
        ("assets_percent_check", {"stage": "started", "pct": 120}),
        ("assets_batch_roads_only", {"batch": 1}),
        ("assets_code_format", {"code": "bad code!"}),
    ],
)
def test_database_refuses(connection: Connection, constraint: str, overrides: dict) -> None:
    _refused(connection, constraint, **overrides)
    count = connection.execute(text("SELECT count(*) FROM assets WHERE code LIKE '%99001'"))
    assert count.scalar_one() == 0


def test_invalid_polygon_is_refused(connection: Connection) -> None:
    bowtie = "POLYGON((114.06 35.39, 114.08 35.41, 114.08 35.39, 114.06 35.41, 114.06 35.39))"
    _refused(connection, "assets_geom_valid", layer="water_works", kind="reservoir", wkt=bowtie)


def test_duplicate_code_is_refused(connection: Connection) -> None:
    _insert(connection)
    _refused(connection, "assets_code_key")


def test_road_line_inside_county_is_accepted(connection: Connection) -> None:
    road = _insert(
        connection,
        code="GL-410781-99001",
        layer="roads",
        kind="village_road",
        batch=2,
        wkt="LINESTRING(114.06 35.40, 114.07 35.41, 114.08 35.41)",
    )
    stored = connection.execute(
        text("SELECT ST_GeometryType(geom), batch FROM assets WHERE id = :id"), {"id": road}
    ).one()
    assert tuple(stored) == ("ST_LineString", 2)


def test_events_are_append_only(connection: Connection) -> None:
    asset_id = _insert(connection)
    event_id = uuid.uuid4()
    connection.execute(
        text(
            "INSERT INTO asset_events (id, asset_id, stage, percent, observed_at) "
            "VALUES (:id, :asset, 'started', 10, now())"
        ),
        {"id": event_id, "asset": asset_id},
    )
    for statement in (
        "UPDATE asset_events SET percent = 50 WHERE id = :id",
        "DELETE FROM asset_events WHERE id = :id",
        "TRUNCATE asset_events CASCADE",
    ):
        with pytest.raises(DBAPIError) as caught, connection.begin_nested():
            connection.execute(text(statement), {"id": event_id})
        assert "append-only" in str(caught.value)
    stored = connection.execute(
        text("SELECT percent FROM asset_events WHERE id = :id"), {"id": event_id}
    ).scalar_one()
    assert stored == 10


def test_resent_event_id_is_recognised(connection: Connection) -> None:
    asset_id = _insert(connection)
    event = {"id": uuid.uuid4(), "asset": asset_id}
    insert = text(
        "INSERT INTO asset_events (id, asset_id, stage, percent, observed_at) "
        "VALUES (:id, :asset, 'started', 10, now())"
    )
    connection.execute(insert, event)
    with pytest.raises(DBAPIError) as caught, connection.begin_nested():
        connection.execute(insert, event)
    assert caught.value.orig.diag.constraint_name == "asset_events_pkey"


def test_deadline_needs_exactly_one_due(connection: Connection) -> None:
    with pytest.raises(DBAPIError) as caught, connection.begin_nested():
        connection.execute(
            text(
                "INSERT INTO deadlines (rule, layer, stage, label_zh, label_en) "
                "VALUES ('x', 'roads', 'completed', 'x', 'x')"
            )
        )
    assert caught.value.orig.diag.constraint_name == "deadlines_one_due"


def test_milestone_deadline_is_due_the_day_before(connection: Connection) -> None:
    row = connection.execute(
        text(
            "SELECT d.due_on, m.date FROM deadline_dates d JOIN milestones m "
            "ON m.name = d.due_milestone WHERE d.rule = 'water_completed'"
        )
    ).one()
    assert (row.date - row.due_on).days == 1
