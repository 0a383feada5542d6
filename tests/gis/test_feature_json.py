"""Asset features are concatenated from JSON text (gis/queries/features.py) for speed: they must
be exactly what PostgreSQL's own json_build_object makes of the same row, for every kind of
value a clerk or an import can put there."""

import json
from dataclasses import replace

import pytest
from shapely.geometry import LineString
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from gis.queries.features import (
    ASSET_JOINS,
    PERSONAL_PROPERTIES,
    PUBLIC_PROPERTIES,
    asset_feature_sql,
)
from tests.samples import HONGQI_HOUSE, WEIHUI_HOUSE

# The reference, written the slow way: every property through json_build_object, the names
# straight from the vocabulary tables.
REFERENCE_JOINS = """
    JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
    JOIN counties c ON c.adcode = a.county_adcode
    JOIN stages s ON s.stage = a.stage
"""
NAMES = {"kind_zh": "k.name_zh", "county_zh": "c.name_zh", "stage_zh": "s.name_zh"}


def _reference_sql(*, personal: bool, lat_lon: bool) -> str:
    keys = [key for key, _, _ in PUBLIC_PROPERTIES]
    if personal:
        keys += [key for key, _, _ in PERSONAL_PROPERTIES]
    pairs = ", ".join(f"'{key}', {NAMES.get(key, 'a.' + key)}" for key in keys)
    geom = "ST_FlipCoordinates(a.geom)" if lat_lon else "a.geom"
    return f"""
        json_build_object('type', 'Feature', 'id', a.id,
                          'geometry', ST_AsGeoJSON({geom}, 7)::json,
                          'properties', json_build_object({pairs}))::text"""


TRICKY = [
    'quote " and backslash \\ and slash /',
    "newline\nand tab\tand carriage\rreturn",
    "control \x01\x1f characters",
    "中文 村名（全角）「」 and emoji 🏠",
    "",
    "unicode escapes \u2028\u2029 literally",
]


@pytest.mark.parametrize("personal", [False, True])
@pytest.mark.parametrize("lat_lon", [False, True])
def test_features_equal_json_build_object(session: Session, personal: bool, lat_lon: bool) -> None:
    ids = []
    for n, value in enumerate(TRICKY):
        ids.append(
            create_asset(
                session,
                asset_in=replace(WEIHUI_HOUSE, code=f"FW-410781-9{n:04d}", name=f"测试{n}"),
            )
        )
        # as an import or a database client may store them, past the form's checks
        session.execute(
            text(
                "UPDATE assets SET name = :v || '·', village = :v, town = :v, "
                "householder_name = :v, "
                "householder_phone = CASE WHEN :odd THEN NULL ELSE :v END WHERE id = :id"
            ),
            {"v": value, "odd": n % 2 == 1, "id": ids[-1]},
        )
    road = create_asset(
        session,
        asset_in=replace(
            HONGQI_HOUSE,
            code="DL-410702-90001",
            layer="roads",
            kind="county_road",
            batch=2,
            geometry=LineString([(113.93, 35.27), (113.94, 35.28)]),
            town=None,
            village=None,
            householder_name=None,
            householder_phone=None,
        ),
    )
    ids.append(road)
    # numbers, NaN, booleans, timestamps, extra attributes (nested, with quotes), a stage
    session.execute(
        text(
            """
            UPDATE assets SET planned_investment_wan = CASE WHEN id = :a THEN 'NaN' ELSE 12.5 END,
                   funds_secured_wan = CASE WHEN id = :a THEN NULL ELSE 0.01 END,
                   poverty_alleviated_area = (id % 2 = 0), worst_hit_area = true,
                   stage = 'started', percent = 40,
                   stage_observed_at = '2022-03-01 10:00:00.123456+08',
                   extra = CAST(:extra AS jsonb), extra_personal = CAST(:personal AS jsonb)
             WHERE id = ANY(:ids)
            """
        ),
        {
            "a": ids[0],
            "ids": ids,
            "extra": json.dumps({"备注": 'say "hi"\n', "户数": "3", "nested": {"a": [1, None]}}),
            "personal": json.dumps({"身份证号": "410781199001011234"}),
        },
    )
    ours = asset_feature_sql(personal=personal, lat_lon=lat_lon)
    rows = session.execute(
        text(
            f"""
            SELECT a.id, ({ours}) AS ours FROM assets a {ASSET_JOINS} WHERE a.id = ANY(:ids)
            """
        ),
        {"ids": ids},
    ).all()
    reference = dict(
        session.execute(
            text(
                f"SELECT a.id, {_reference_sql(personal=personal, lat_lon=lat_lon)} "
                f"FROM assets a {REFERENCE_JOINS} WHERE a.id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
    )
    assert len(rows) == len(ids)
    for asset_id, text_json in rows:
        assert json.loads(text_json) == json.loads(reference[asset_id])
    by_id = {asset_id: json.loads(body) for asset_id, body in rows}
    assert by_id[ids[0]]["properties"]["planned_investment_wan"] == "NaN"
    assert by_id[road]["properties"]["batch"] == 2
    assert by_id[road]["geometry"]["type"] == "LineString"
    assert ("householder_name" in by_id[ids[1]]["properties"]) is personal
