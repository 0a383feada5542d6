"""Importing an inventory: all rows or none, every bad row named with what to fix."""

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.imports import ImportRejected, import_inventory

HEADER = "代码,类别,县区代码,名称,乡镇,村,lon,lat,户主\n"
GOOD_ROWS = [
    "FW-410781-60001,general_repair,410781,测试住房一,测试镇,甲村,114.07,35.40,王某\n",
    "FW-410781-60002,self_rebuild,410781,测试住房二,测试镇,乙村,114.08,35.41,赵某\n",
]


def _assets(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM assets")).scalar_one()


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "houses.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_csv_with_chinese_headers_is_imported(session: Session, tmp_path: Path) -> None:
    before = _assets(session)
    assert import_inventory(session, path=_csv(tmp_path, GOOD_ROWS), layer="houses") == 2
    assert _assets(session) == before + 2
    holder = session.execute(
        text("SELECT householder_name FROM assets WHERE code = 'FW-410781-60002'")
    ).scalar_one()
    assert holder == "赵某"


def test_one_bad_row_stores_nothing_and_names_every_problem(
    session: Session, tmp_path: Path
) -> None:
    rows = [
        *GOOD_ROWS,
        "FW-410781-60003,general_repair,410781,界外住房,测试镇,丙村,116.40,39.90,\n",
        "FW-410781-60001,general_repair,410781,重复代码,测试镇,丁村,114.07,35.40,\n",
        "FW-410781-60005,tower,410781,错误类别,测试镇,戊村,114.07,35.40,\n",
    ]
    before = _assets(session)
    with pytest.raises(ImportRejected) as caught:
        import_inventory(session, path=_csv(tmp_path, rows), layer="houses")
    assert [p.row for p in caught.value.problems] == [3, 4, 5]
    assert "第 3 行" in caught.value.zh and "不在新乡市范围内" in caught.value.zh
    assert "与第 1 行重复" in caught.value.zh
    assert "未导入任何数据" in caught.value.zh
    assert _assets(session) == before


def test_projected_geopackage_is_reprojected(session: Session, tmp_path: Path) -> None:
    roads = gpd.GeoDataFrame(
        {
            "code": ["GL-410782-60001"],
            "kind": ["village_road"],
            "county_adcode": ["410782"],
            "name": ["测试村道"],
            "batch": [2],
        },
        geometry=[LineString([(113.75, 35.55), (113.76, 35.56)])],
        crs=4326,
    ).to_crs(3857)
    path = tmp_path / "roads.gpkg"
    roads.to_file(path)
    assert import_inventory(session, path=path, layer="roads") == 1
    x, y = session.execute(
        text("SELECT ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)) FROM assets "
             "WHERE code = 'GL-410782-60001'")
    ).one()  # fmt: skip
    assert (x, y) == (pytest.approx(113.75), pytest.approx(35.55))


def test_missing_columns_and_unknown_layer(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "bare.geojson"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[Point(114.07, 35.4)], crs=4326).to_file(path)
    with pytest.raises(InvalidInput) as caught:
        import_inventory(session, path=path, layer="houses")
    assert "code" in caught.value.zh and "kind" in caught.value.zh
    with pytest.raises(InvalidInput) as caught:
        import_inventory(session, path=path, layer="bridges")
    assert caught.value.field == "layer"
