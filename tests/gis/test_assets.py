"""Creating assets: each kind of bad input is refused with a clear message, nothing stored."""

from dataclasses import replace

import pytest
from shapely.geometry import LineString, Point, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from gis.errors import (
    DuplicateCode,
    InvalidGeometry,
    InvalidInput,
    InvalidStage,
    OutsideArea,
    UnknownCounty,
)
from tests.samples import WEIHUI_HOUSE

HOUSE = replace(WEIHUI_HOUSE, kind="self_rebuild")


def _count(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM assets")).scalar_one()


def test_valid_house_is_stored(session: Session) -> None:
    asset_id = create_asset(session, asset_in=HOUSE)
    row = session.execute(
        text(
            "SELECT code, stage, percent, version, ST_AsText(geom) AS wkt FROM assets WHERE id=:i"
        ),
        {"i": asset_id},
    ).one()
    assert row.code == HOUSE.code
    assert (row.stage, row.percent, row.version) == ("not_started", 0, 1)
    assert row.wkt == "POINT(114.07 35.4)"


def test_valid_road_and_levee_are_stored(session: Session) -> None:
    road = replace(
        HOUSE,
        code="GL-410781-90001",
        layer="roads",
        kind="village_road",
        batch=1,
        geometry=LineString([(114.06, 35.40), (114.07, 35.41)]),
        householder_name=None,
        householder_phone=None,
    )
    levee = replace(road, code="SL-410781-90001", layer="water_works", kind="levee", batch=None)
    assert create_asset(session, asset_in=road) != create_asset(session, asset_in=levee)


@pytest.mark.parametrize(
    ("change", "error", "field", "words"),
    [
        ({"geometry": Point(116.40, 39.90)}, OutsideArea, "geometry", "不在新乡市范围内"),
        ({"geometry": Point(35.40, 114.07)}, InvalidGeometry, "geometry", "经纬度可能写反了"),
        ({"geometry": Point(113.75, 35.55)}, OutsideArea, "county_adcode", "辉县市（410782）"),
        ({"geometry": Point(12_700_000, 4_200_000)}, InvalidGeometry, "geometry", "经纬度"),
        ({"geometry": Point()}, InvalidGeometry, "geometry", "为空"),
        ({"geometry": None}, InvalidGeometry, "geometry", "缺少位置"),
        (
            {"geometry": LineString([(114.06, 35.40), (114.07, 35.41)])},
            InvalidGeometry,
            "geometry",
            "Point",
        ),
        ({"county_adcode": "410799"}, UnknownCounty, "county", "410781 卫辉市"),
        ({"stage": "finished"}, InvalidStage, "stage", "已验收"),
        ({"stage": "completed", "percent": 60}, InvalidStage, "percent", "100"),
        ({"kind": "reservoir"}, InvalidInput, "kind", "self_rebuild"),
        ({"layer": "bridges"}, InvalidInput, "layer", "houses"),
        ({"batch": 1}, InvalidInput, "batch", "只有农村公路"),
        ({"households": 30}, InvalidInput, "households", "安置区"),
        ({"code": "坏代码"}, InvalidInput, "code", "FW-410781-00012"),
        ({"name": "  "}, InvalidInput, "name", "名称"),
    ],
)
def test_bad_input_is_refused(
    session: Session, change: dict, error: type, field: str, words: str
) -> None:
    before = _count(session)
    with pytest.raises(error) as caught:
        create_asset(session, asset_in=replace(HOUSE, **change))
    assert caught.value.field == field
    assert words in caught.value.zh
    assert caught.value.en  # an English message is always there
    assert _count(session) == before


def test_invalid_polygon_says_why(session: Session) -> None:
    bowtie = Polygon([(114.06, 35.39), (114.08, 35.41), (114.08, 35.39), (114.06, 35.41)])
    reservoir = replace(HOUSE, layer="water_works", kind="reservoir", geometry=bowtie)
    with pytest.raises(InvalidGeometry) as caught:
        create_asset(session, asset_in=replace(reservoir, householder_name=None))
    assert "Self-intersection" in caught.value.zh


def test_road_needs_a_batch(session: Session) -> None:
    road = replace(
        HOUSE,
        layer="roads",
        kind="village_road",
        geometry=LineString([(114.06, 35.4), (114.07, 35.41)]),
    )
    with pytest.raises(InvalidInput) as caught:
        create_asset(session, asset_in=road)
    assert caught.value.field == "batch"


def test_duplicate_code_names_the_holder(session: Session) -> None:
    first = create_asset(session, asset_in=HOUSE)
    before = _count(session)
    with pytest.raises(DuplicateCode) as caught:
        create_asset(session, asset_in=replace(HOUSE, geometry=Point(114.071, 35.401)))
    assert str(first) in caught.value.zh
    assert _count(session) == before
