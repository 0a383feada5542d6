"""Layer exports read chunk by chunk: the same files as the whole layer read into one GeoPandas
frame, feature for feature and column for column. ``_reference`` is how the exports were made
until they were streamed (the layer in memory), kept here as the definition of their content."""

import datetime as dt
import json
import math
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import LineString, MultiLineString
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import layer_exports
from gis.access import Principal
from gis.assets import create_asset
from gis.crs import STORAGE_SRID
from gis.progress import SCOPE, scope_params, state_as_of
from gis.vocab import STAGE_ZH
from tests.samples import WEIHUI_HOUSE

ADMIN = Principal(1, "admin", "admin", "admin", None)
VIEWER = Principal(2, "viewer", "viewer", "viewer", None)
MANAGER = Principal(3, "manager", "manager", "manager", frozenset({"410781"}))
TODAY = dt.date(2023, 1, 1)


_AS_OF = state_as_of("cutoff", "past")
_LAYER = text(
    f"""
    SELECT a.id, a.code, a.layer, a.kind, k.name_zh AS kind_zh, a.county_adcode,
           c.name_zh AS county_zh, a.town, a.village, a.name, a.batch, a.households,
           a.planned_investment_wan::float8 AS planned_investment_wan,
           a.funds_secured_wan::float8 AS funds_secured_wan,
           {_AS_OF.stage} AS stage, {_AS_OF.percent} AS percent,
           a.householder_name, a.householder_phone, a.extra, a.extra_personal,
           ST_AsBinary(a.geom) AS wkb
      FROM assets a
      {_AS_OF.join}
      JOIN counties c ON c.adcode = a.county_adcode
      JOIN asset_kinds k ON k.layer = a.layer AND k.kind = a.kind
     WHERE a.layer = :layer AND {SCOPE}
     ORDER BY a.id
    """
)


def _reference(
    session: Session, principal: Principal, layer: str, day: dt.date, county: str | None
) -> gpd.GeoDataFrame:
    """The layer as one frame: every row read, then the extra attributes as columns (a header
    that is already a column keeps the column's values)."""
    params = scope_params(session, principal, as_of=day, county=county, today=TODAY)
    rows = session.execute(_LAYER, {**params, "layer": layer}).all()
    columns = [c for c in rows[0]._fields if c != "wkb"]
    data = {c: [getattr(r, c) for r in rows] for c in columns}
    geometry = shapely.from_wkb([bytes(r.wkb) for r in rows])
    frame = gpd.GeoDataFrame(data, geometry=geometry, crs=STORAGE_SRID)
    frame["stage_zh"] = frame["stage"].map(STAGE_ZH)
    frame["as_of"] = day.isoformat()
    if not principal.personal_everywhere_it_reads:
        frame = frame.drop(columns=["householder_name", "householder_phone", "extra_personal"])
    for name in ("extra", "extra_personal"):
        if name not in frame:
            continue
        records = frame.pop(name).tolist()
        for header in dict.fromkeys(k for r in records for k in (r or {})):
            if header not in frame:
                frame[header] = [(r or {}).get(header) for r in records]
    return frame


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
    frame = _reference(session, principal, layer, day, county)
    theirs = json.loads(frame.to_json(ensure_ascii=False, drop_id=True))
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
    theirs = tmp_path / "theirs.gpkg"
    _reference(session, principal, layer, day, county).to_file(
        theirs, layer=layer, driver="GPKG", engine="pyogrio"
    )
    info, expected = pyogrio.read_info(ours, layer=layer), pyogrio.read_info(theirs, layer=layer)
    for key in ("fields", "dtypes"):
        assert list(info[key]) == list(expected[key]), key
    for key in ("geometry_type", "crs", "features"):
        assert info[key] == expected[key], key
    assert_geodataframe_equal(
        pyogrio.read_dataframe(ours, layer=layer), pyogrio.read_dataframe(theirs, layer=layer)
    )
