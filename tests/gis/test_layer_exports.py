"""Layer exports read chunk by chunk: the same files as the whole layer read into one GeoPandas
frame, feature for feature and column for column."""

import datetime as dt
import json
import math
from dataclasses import replace
from pathlib import Path

import pyogrio
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import LineString, MultiLineString
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import layer_exports
from gis.access import Principal
from gis.assets import create_asset
from tests.samples import WEIHUI_HOUSE

ADMIN = Principal(1, "admin", "admin", "admin", None)
VIEWER = Principal(2, "viewer", "viewer", "viewer", None)
MANAGER = Principal(3, "manager", "manager", "manager", frozenset({"410781"}))
TODAY = dt.date(2023, 1, 1)


@pytest.fixture
def assets(session: Session, houses: dict[str, int]) -> dict[str, int]:
    """The hand-counted houses, some with extra attributes (one header that is also a column's,
    one public header also kept as personal, numbers with one missing), and two roads, one of
    them a MultiLineString."""
    extras = {
        "H1": ({"结构": "砖混", "间数": 3, "code": "冲突"}, {"身份证号": "410781199001010011"}),
        "H2": ({"结构": "土木", "面积": 80.5}, {"结构": "私下"}),
        "H4": ({"间数": 2, "备注": None}, {}),
    }
    for name, (extra, personal) in extras.items():
        session.execute(
            text(
                "UPDATE assets SET extra = CAST(:e AS jsonb), extra_personal = CAST(:p AS jsonb), "
                "planned_investment_wan = 12.5 WHERE id = :id"
            ),
            {"e": json.dumps(extra), "p": json.dumps(personal), "id": houses[name]},
        )
    road = replace(WEIHUI_HOUSE, layer="roads", kind="county_road", batch=1)
    roads = {
        "R1": create_asset(
            session,
            asset_in=replace(
                road,
                code="GL-410781-80001",
                geometry=LineString([(114.07, 35.40), (114.08, 35.41)]),
            ),
        ),
        "R2": create_asset(
            session,
            asset_in=replace(
                road,
                code="GL-410781-80002",
                batch=2,
                geometry=MultiLineString(
                    [[(114.071, 35.401), (114.072, 35.402)], [(114.073, 35.4), (114.074, 35.41)]]
                ),
            ),
        ),
    }
    return {**houses, **roads}


CASES = [
    pytest.param(ADMIN, "houses", dt.date(2021, 10, 27), None, id="admin-before-a-report"),
    pytest.param(VIEWER, "houses", TODAY, None, id="viewer"),
    pytest.param(MANAGER, "houses", TODAY, "410781", id="manager-county"),
    pytest.param(ADMIN, "roads", TODAY, None, id="roads"),
]


def _export(session: Session, principal: Principal, layer: str, day: dt.date, county: str | None):
    return layer_exports.check_export(
        session, principal=principal, layer=layer, as_of=day, county=county, today=TODAY
    )


@pytest.mark.parametrize(("principal", "layer", "day", "county"), CASES)
def test_geojson_is_the_frame_s_geojson(
    session: Session,
    assets: dict[str, int],
    principal: Principal,
    layer: str,
    day: dt.date,
    county: str | None,
) -> None:
    export = _export(session, principal, layer, day, county)
    chunks = list(layer_exports.geojson_chunks(session, export, size=2))
    ours = json.loads(b"".join(chunks))
    assert len(chunks) == 2 + math.ceil(len(ours["features"]) / 2)  # the head, pieces, the end
    frame = layer_exports.layer_frame(
        session, principal=principal, layer=layer, as_of=day, county=county, today=TODAY
    )
    theirs = json.loads(layer_exports.geojson(frame))
    assert ours == theirs
    assert [list(f["properties"]) for f in ours["features"]] == [
        list(f["properties"]) for f in theirs["features"]
    ]  # the same columns in the same order


@pytest.mark.parametrize(("principal", "layer", "day", "county"), CASES)
def test_geopackage_is_the_frame_s_geopackage(
    session: Session,
    assets: dict[str, int],
    principal: Principal,
    layer: str,
    day: dt.date,
    county: str | None,
    tmp_path: Path,
) -> None:
    export = _export(session, principal, layer, day, county)
    ours = tmp_path / "ours.gpkg"
    layer_exports.write_geopackage(session, export, ours, size=2)
    frame = layer_exports.layer_frame(
        session, principal=principal, layer=layer, as_of=day, county=county, today=TODAY
    )
    theirs = tmp_path / "theirs.gpkg"
    theirs.write_bytes(layer_exports.geopackage(frame, layer))
    info, expected = pyogrio.read_info(ours, layer=layer), pyogrio.read_info(theirs, layer=layer)
    for key in ("fields", "dtypes"):
        assert list(info[key]) == list(expected[key]), key
    for key in ("geometry_type", "crs", "features"):
        assert info[key] == expected[key], key
    assert_geodataframe_equal(
        pyogrio.read_dataframe(ours, layer=layer), pyogrio.read_dataframe(theirs, layer=layer)
    )
