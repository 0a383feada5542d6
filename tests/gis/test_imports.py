"""Importing an inventory as counties send it: formats, encodings, Chinese headers and values,
datums, the clerk's report, all-or-nothing, updates. Every fixture file is made here."""

import csv
import datetime as dt
import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.crs import wgs84_to_bd09, wgs84_to_gcj02
from gis.errors import InvalidInput
from gis.imports import ImportOptions, ImportRejected, import_inventory, load
from gis.imports.report import PROBLEM_HEADER, write_report
from tests.recount import assert_as_recounted

IN_WEIHUI = (114.07, 35.40)
HEADER = "编号,工程类别,县区,工程名称,乡镇,村,经度,纬度,户主,计划投资(万元),户数,备注\n"
GOOD_ROWS = [
    'FW-410781-60001,一般损坏,卫辉市,测试住房一,测试镇,甲村,114.07,35.40,王某,"1,200.5",1,\n',
    "FW-410781-60002,倒塌和严重损坏房屋村民自建,卫辉,测试住房二,测试镇,乙村,１１４.０８,35.41,赵某,3,2,身份证号略\n",
]


def _count(session: Session, where: str = "true") -> int:
    return session.execute(text(f"SELECT count(*) FROM assets WHERE {where}")).scalar_one()


def _asset(session: Session, code: str):
    return session.execute(
        text(
            "SELECT *, ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y "
            "FROM assets WHERE code = :c"
        ),
        {"c": code},
    ).one()


def _csv(
    tmp_path: Path, rows: list[str], *, encoding: str = "utf-8", name: str = "台账.csv"
) -> Path:
    path = tmp_path / name
    path.write_bytes((HEADER + "".join(rows)).encode(encoding))
    return path


def _import(session: Session, path: Path, layer: str = "houses", **options):
    return import_inventory(session, path=path, layer=layer, options=ImportOptions(**options))


def test_csv_with_chinese_headers_values_and_units(session: Session, tmp_path: Path) -> None:
    summary = _import(session, _csv(tmp_path, GOOD_ROWS))
    assert summary.created == 2 and not summary.problems
    one, two = _asset(session, "FW-410781-60001"), _asset(session, "FW-410781-60002")
    assert (one.kind, one.county_adcode, float(one.planned_investment_wan)) == (
        "general_repair",
        "410781",
        1200.5,
    )
    assert two.kind == "self_rebuild" and two.x == pytest.approx(114.08)  # full-width digits
    assert one.extra == {"户数": "1"}  # a public extra attribute
    assert two.extra_personal == {"备注": "身份证号略"}  # anything else: personal
    assert set(summary.extra_columns) == {"户数", "备注"}
    assert "UTF-8" in " ".join(zh for zh, _ in summary.notes)


def test_gbk_csv_is_detected(session: Session, tmp_path: Path) -> None:
    summary = _import(session, _csv(tmp_path, GOOD_ROWS, encoding="gbk"))
    assert summary.created == 2
    assert _asset(session, "FW-410781-60001").name == "测试住房一"
    assert any("GBK" in zh for zh, _ in summary.notes)


def test_utf8_bom_csv(session: Session, tmp_path: Path) -> None:
    summary = _import(session, _csv(tmp_path, GOOD_ROWS, encoding="utf-8-sig"))
    assert summary.created == 2 and _asset(session, "FW-410781-60001").name == "测试住房一"
    assert any("BOM" in en for _, en in summary.notes)


@pytest.mark.parametrize(
    ("codec", "name"),
    [("utf-16-le", "台账.txt"), ("utf-16-be", "台账.csv"), ("utf-16-le", "台账.csv")],
)
def test_excels_unicode_text_is_read_without_options(
    session: Session, tmp_path: Path, codec: str, name: str
) -> None:
    """Excel's "Unicode text": tab-separated UTF-16 with a BOM. Before: read as GBK."""
    lines = csv.reader(io.StringIO(HEADER + "".join(GOOD_ROWS)))
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\r\n").writerows(lines)
    path = tmp_path / name
    path.write_bytes(("\ufeff" + out.getvalue()).encode(codec))
    summary = _import(session, path)
    assert summary.created == 2 and not summary.problems
    one = _asset(session, "FW-410781-60001")
    assert (one.name, float(one.planned_investment_wan)) == ("测试住房一", 1200.5)
    assert any("UTF-16" in zh for zh, _ in summary.notes)
    assert any("UTF-16" in en for _, en in summary.notes)


def test_encoding_option_overrides_detection(session: Session, tmp_path: Path) -> None:
    """UTF-16 without a BOM, which detection does not guess: --encoding says it."""
    path = _csv(tmp_path, GOOD_ROWS, encoding="utf-16-le")
    summary = _import(session, path, encoding="utf-16-le")
    assert summary.created == 2 and _asset(session, "FW-410781-60002").village == "乙村"
    assert any("按指定编码 utf-16-le" in zh for zh, _ in summary.notes)


def test_flags_money_in_yuan_and_county_from_the_location(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "flags.csv"
    path.write_text(
        "编号,类别,名称,经度,纬度,是否脱贫地区,受灾严重地区,计划投资（元）\n"
        'FW-410781-60101,一般损坏,甲,114.07,35.40,是,否,"12,000"\n'
        "FW-410781-60102,一般损坏,乙,114.08,35.41,否,是,\n",
        encoding="utf-8",
    )
    summary = _import(session, path)
    assert summary.derived == {"county_adcode": 2}
    one, two = _asset(session, "FW-410781-60101"), _asset(session, "FW-410781-60102")
    assert (one.county_adcode, one.poverty_alleviated_area, one.worst_hit_area) == (
        "410781",
        True,
        False,
    )
    assert (two.poverty_alleviated_area, two.worst_hit_area) == (False, True)
    assert float(one.planned_investment_wan) == 1.2 and two.planned_investment_wan is None
    path.write_text(path.read_text().replace(",是,否,", ",也许,否,"), encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        _import(session, path, mode="update")
    (problem,) = caught.value.problems
    assert (problem.row, problem.column, problem.value) == (2, "是否脱贫地区", "也许")
    assert "是 或 否" in problem.zh


def test_header_row_and_sheet_options(session: Session, tmp_path: Path) -> None:
    """A header below a long preface (beyond the rows searched) on the second sheet."""
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["填表说明"])
    ws = book.create_sheet("台账")
    for n in range(31):
        ws.append([f"说明第 {n + 1} 条"])
    ws.append(["编号", "类别", "县区", "名称", "经度", "纬度"])
    ws.append(["FW-410781-60201", "一般损坏", "卫辉", "甲", 114.07, 35.40])
    ws.append(["FW-410781-60202", "塔", "卫辉", "乙", 114.07, 35.40])
    path = tmp_path / "preface.xlsx"
    book.save(path)
    with pytest.raises(ImportRejected) as caught:
        _import(session, path, sheet="台账", header_row=32)
    assert [(p.row, p.value) for p in caught.value.problems] == [(34, "塔")]
    summary = _import(session, path, sheet="台账", header_row=32, skip_invalid=True)
    assert (summary.created, summary.sheet.header_row) == (1, 32)
    with pytest.raises(InvalidInput, match="no coordinate columns"):  # not searched that far
        _import(session, path, sheet="台账")


@pytest.mark.parametrize("header_row", [0, -1])
def test_a_header_row_below_1_is_refused(session: Session, tmp_path: Path, header_row: int) -> None:
    """Before: 0 fell back to finding the header, -1 was "beyond the sheet's rows"."""
    book = openpyxl.Workbook()
    book.active.append(["编号", "类别", "县区", "名称", "经度", "纬度"])
    book.active.append(["FW-410781-60301", "一般损坏", "卫辉", "甲", 114.07, 35.40])
    book.save(tmp_path / "houses.xlsx")
    for path in (tmp_path / "houses.xlsx", _csv(tmp_path, GOOD_ROWS)):
        with pytest.raises(InvalidInput) as caught:
            _import(session, path, header_row=header_row)
        assert caught.value.field == "header_row"
        assert f"表头行号 {header_row} 无效：行号从 1 开始" in caught.value.zh
        assert "numbered from 1" in caught.value.en
    assert _count(session, "code LIKE 'FW-410781-60%'") == 0


def test_csv_title_rows_above_the_header_are_found(session: Session, tmp_path: Path) -> None:
    """A CSV saved from a workbook with a title (one value, no padding) and a line of who
    filled it in above the header. Before: "第 2 行有 4 个值，而表头只有 1 列"."""
    title = "卫辉市2021年水毁农房台账\n填报单位：卫辉市住建局,,,2022年5月\n"
    bad = "FW-410781-60021,塔,卫辉市,错误类别,测试镇,戊村,114.07,35.40,,,,\n"
    path = tmp_path / "titled.csv"
    path.write_text(title + HEADER + "".join(GOOD_ROWS) + bad, encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        _import(session, path)
    # the clerk's rows: title 1, who 2, header 3, data from 4
    assert [(p.row, p.value) for p in caught.value.problems] == [(6, "塔")]
    summary = _import(session, path, skip_invalid=True)
    assert (summary.created, summary.skipped, summary.sheet.header_row) == (2, 1, 3)
    assert ("表头在第 3 行（其上为标题）", "header found on row 3") in summary.notes
    assert _asset(session, "FW-410781-60002").village == "乙村"
    longer = tmp_path / "longer.csv"
    longer.write_text(title + HEADER + GOOD_ROWS[0].replace("\n", ",多出的值\n"), encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 4 has 13 values but the header only 12"):
        _import(session, longer)


def test_csv_header_row_option_and_mapping(session: Session, tmp_path: Path) -> None:
    """A header below a preface longer than the rows searched, given by --header-row or by the
    mapping file's header_row. Before: ignored for a CSV, which was refused for its columns."""
    preface = "".join(f"说明第 {n + 1} 条\n" for n in range(31))
    bad = "FW-410781-60022,塔,卫辉市,错误类别,测试镇,戊村,114.07,35.40,,,,\n"
    path = tmp_path / "preface.csv"
    path.write_text(preface + HEADER + GOOD_ROWS[0] + bad, encoding="gbk")
    with pytest.raises(InvalidInput) as caught:  # not searched that far: row 1 taken
        _import(session, path)
    assert "第 32 行有 12 个值，而表头只有 1 列" in caught.value.zh
    assert "表头取的是第 1 行，如表头在别处，请用 --header-row 指明" in caught.value.zh
    with pytest.raises(ImportRejected) as caught:
        _import(session, path, header_row=32)
    assert [(p.row, p.value) for p in caught.value.problems] == [(34, "塔")]
    mapping = tmp_path / "county.toml"
    mapping.write_text("[read]\nheader_row = 32\n", encoding="utf-8")
    summary = _import(session, path, mapping=mapping, skip_invalid=True)
    assert (summary.created, summary.sheet.header_row) == (1, 32)
    assert summary.sheet.rows.tolist() == [33, 34]
    with pytest.raises(InvalidInput) as caught:
        _import(session, path, header_row=40)
    assert caught.value.zh.startswith("表头行 40 超出 preface.csv（共 34 行）")


def test_a_header_row_for_a_gis_file_is_refused(session: Session, tmp_path: Path) -> None:
    """Before: ignored without a word. The mapping file's header_row (a county's default for
    its workbooks) is not a mistake in a GIS file."""
    for suffix in (".gpkg", ".geojson", ".kml", ".shp"):
        path = tmp_path / f"houses{suffix}"
        _houses_frame().to_file(path)
        with pytest.raises(InvalidInput) as caught:
            _import(session, path, header_row=2)
        assert caught.value.field == "header_row"
        assert caught.value.zh.startswith(f"houses{suffix} 是 GIS 文件，没有表头行")
        assert "--header-row" in caught.value.zh and "no header row" in caught.value.en
    assert _count(session, "code LIKE 'FW-410781-6200_'") == 0
    mapping = tmp_path / "county.toml"
    mapping.write_text("[read]\nheader_row = 3\n", encoding="utf-8")
    assert _import(session, tmp_path / "houses.gpkg", mapping=mapping).created == 2


def test_one_bad_row_stores_nothing_and_names_row_column_value(
    session: Session, tmp_path: Path
) -> None:
    rows = [
        *GOOD_ROWS,
        "FW-410781-60003,一般损坏,卫辉市,界外住房,测试镇,丙村,116.40,39.90,,,,\n",
        "FW-410781-60001,一般损坏,卫辉市,重复代码,测试镇,丁村,114.07,35.40,,,,\n",
        "FW-410781-60005,塔,卫辉市,错误类别,测试镇,戊村,114.07,35.40,,,,\n",
        "FW-410781-60006,一般损坏,卫辉市,坏经度,测试镇,己村,abc,35.40,,,,\n",
    ]
    before = _count(session)
    with pytest.raises(ImportRejected) as caught:
        _import(session, _csv(tmp_path, rows))
    problems = caught.value.problems
    assert [p.row for p in problems] == [4, 5, 6, 7]  # the header is row 1
    assert "不在新乡市" in problems[0].zh
    assert "与第 2 行重复" in problems[1].zh
    assert problems[2].column == "工程类别" and problems[2].value == "塔"
    assert problems[3].column == "经度" and "不是数字" in problems[3].zh
    assert "未导入任何数据" in caught.value.zh
    assert _count(session) == before


def test_skip_invalid_and_dry_run(session: Session, tmp_path: Path) -> None:
    bad = "FW-410781-60009,塔,卫辉市,错误类别,测试镇,戊村,114.07,35.40,,,,\n"
    path = _csv(tmp_path, [*GOOD_ROWS, bad])
    before = _count(session)
    dry = _import(session, path, skip_invalid=True, dry_run=True)
    assert (dry.created, dry.skipped) == (2, 1) and _count(session) == before
    done = _import(session, path, skip_invalid=True)
    assert (done.created, done.skipped) == (2, 1) and _count(session) == before + 2


def test_xlsx_with_title_row_merged_cells_and_derived_fields(
    session: Session, tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["卫辉市2021年水毁农房台账"])
    ws.merge_cells("A1:F1")
    ws.append(["填报单位：卫辉市住建局", None, None, "2022年5月"])
    ws.append(["序号", "县区代码", "损毁等级", "重建方式", "行政村", "经度", "纬度", "间数"])
    ws.append([1, 410781, "一般损坏", "维修加固", "甲村", 114.07, 35.40, 3])
    ws.append([2, 410781, "严重损坏", "政府统建", "乙村", 114.08, 35.41, None])
    ws.append([3, "410781", "倒塌", "自建", "", 114.075, 35.405, 2])
    path = tmp_path / "台账.xlsx"
    book.save(path)
    summary = _import(session, path)
    assert summary.created == 3, summary.text()
    assert summary.sheet.header_row == 3
    assert summary.derived["kind"] == 3 and summary.derived["code"] == 3
    codes = list(summary.generated_codes.values())
    assert list(summary.generated_codes) == [4, 5, 6]  # Excel rows
    kinds = [_asset(session, c).kind for c in codes]
    assert kinds == ["general_repair", "resettlement_site", "self_rebuild"]
    assert all(c.startswith("FW-410781-") for c in codes)
    assert _asset(session, codes[0]).name == f"甲村（{codes[0]}）"
    report = tmp_path / "report.xlsx"
    write_report(summary, report)
    rows = list(openpyxl.load_workbook(report).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("原行号 row", PROBLEM_HEADER, "生成的代码 generated code")
    assert rows[1][0] == 4 and rows[1][2] == codes[0]


def test_report_lists_bad_xlsx_rows_with_their_excel_numbers(
    session: Session, tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["某县台账"])
    ws.append(["编号", "类别", "县区", "名称", "经度", "纬度"])
    ws.append(["FW-410781-61001", "一般损坏", "卫辉", "好", 114.07, 35.40])
    ws.append(["FW-410781-61002", "一般损坏", "卫辉", "坏", "abc", 35.40])
    path = tmp_path / "bad.xlsx"
    book.save(path)
    with pytest.raises(ImportRejected) as caught:
        _import(session, path)
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [(4, "经度", "abc")]
    report = tmp_path / "report.xlsx"
    write_report(caught.value.summary, report)
    rows = list(openpyxl.load_workbook(report).active.iter_rows(values_only=True))
    assert rows[1][0] == 4 and "不是数字" in rows[1][1] and rows[1][-2] == "abc"


def _houses_frame(crs: str | int = 4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "编号": ["FW-410781-62001", "FW-410781-62002"],
            "类别": ["一般损坏", "倒塌"],
            "县区": ["卫辉市", "卫辉市"],
            "名称": ["甲", "乙"],
            "结构": ["砖木", "土坯"],
        },
        geometry=[Point(114.07, 35.40), Point(114.08, 35.41)],
        crs=4326,
    ).to_crs(crs)


def test_gbk_shapefile_without_cpg(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "houses.shp"
    pyogrio.write_dataframe(_houses_frame(), path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    raw = path.with_suffix(".dbf").read_bytes()
    assert "卫辉市".encode("gbk") in raw  # really GBK on disk
    summary = _import(session, path)
    assert summary.created == 2
    assert _asset(session, "FW-410781-62001").extra == {"结构": "砖木"}
    assert any("GBK" in zh and ".cpg" in zh for zh, _ in summary.notes)


def test_shapefile_cpg_is_honoured(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "houses.shp"
    pyogrio.write_dataframe(_houses_frame(), path, encoding="GBK")
    path.with_suffix(".cpg").write_text("936")  # ArcGIS writes the code page number
    summary = _import(session, path)
    assert summary.created == 2 and _asset(session, "FW-410781-62002").extra == {"结构": "土坯"}
    assert any(".cpg：936" in zh for zh, _ in summary.notes)


def test_shapefile_prj_is_honoured(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "houses.shp"
    pyogrio.write_dataframe(_houses_frame(4547), path)  # CGCS2000 3-degree zone at 114E
    assert "CGCS" in path.with_suffix(".prj").read_text()
    assert _import(session, path).created == 2
    row = _asset(session, "FW-410781-62001")
    assert (row.x, row.y) == (pytest.approx(114.07, abs=1e-8), pytest.approx(35.40, abs=1e-8))


def test_shapefile_without_dbf_is_refused_clearly(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "houses.shp"
    pyogrio.write_dataframe(_houses_frame(), path)
    path.with_suffix(".dbf").unlink()
    with pytest.raises(InvalidInput, match=r"houses\.dbf"):
        _import(session, path)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".kml"])
def test_vector_formats(session: Session, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"houses{suffix}"
    _houses_frame().to_file(path)
    summary = _import(session, path)
    assert summary.created == 2, summary.text()


def test_geopackage_of_several_layers_needs_the_layer_named(
    session: Session, tmp_path: Path
) -> None:
    """Before: the first layer (here the roads) was read without a word."""
    path = tmp_path / "county.gpkg"
    roads = gpd.GeoDataFrame(
        {"名称": ["某路"]}, geometry=[LineString([IN_WEIHUI, (114.08, 35.41)])], crs=4326
    )
    roads.to_file(path, layer="roads")
    _houses_frame().to_file(path, layer="houses")
    with pytest.raises(InvalidInput) as caught:
        _import(session, path)
    assert "多个图层：roads、houses" in caught.value.zh and "--sheet" in caught.value.zh
    with pytest.raises(InvalidInput, match="no layer 'house'"):
        _import(session, path, sheet="house")
    assert _import(session, path, sheet="houses").created == 2


def test_projected_geopackage_is_reprojected(session: Session, tmp_path: Path) -> None:
    roads = gpd.GeoDataFrame(
        {
            "路线编号": ["C410782001"],
            "县区代码": ["410782"],
            "名称": ["测试村道"],
            "批次": ["第二批"],
            "code": ["GL-410782-60001"],
        },
        geometry=[LineString([(113.75, 35.55), (113.76, 35.56)])],
        crs=4326,
    ).to_crs(4547)
    path = tmp_path / "roads.gpkg"
    roads.to_file(path)
    summary = _import(session, path, layer="roads")
    assert summary.created == 1 and summary.derived == {"kind": 1}
    road = session.execute(
        text(
            "SELECT kind, batch, ST_X(ST_StartPoint(geom)) x, ST_Y(ST_StartPoint(geom)) y "
            "FROM assets WHERE code = 'GL-410782-60001'"
        )
    ).one()
    assert (road.kind, road.batch) == ("village_road", 2)
    assert (road.x, road.y) == (pytest.approx(113.75), pytest.approx(35.55))


# --- Datums -------------------------------------------------------------------------------------


def _point_csv(tmp_path: Path, x: float, y: float, headers: str = "经度,纬度") -> Path:
    path = tmp_path / "points.csv"
    path.write_text(
        f"编号,类别,县区,名称,{headers}\nFW-410781-63001,一般损坏,卫辉,甲,{x!r},{y!r}\n"
    )
    return path


def _stored(session: Session) -> tuple[float, float]:
    row = _asset(session, "FW-410781-63001")
    return row.x, row.y


def test_gcj02_and_bd09_coordinates_are_stored_as_wgs84(session: Session, tmp_path: Path) -> None:
    gcj = wgs84_to_gcj02(*IN_WEIHUI)
    _import(session, _point_csv(tmp_path, *gcj), crs="GCJ-02")
    assert _stored(session) == (
        pytest.approx(IN_WEIHUI[0], abs=1e-7),
        pytest.approx(IN_WEIHUI[1], abs=1e-7),
    )
    session.execute(text("DELETE FROM assets WHERE code = 'FW-410781-63001'"))
    bd = wgs84_to_bd09(*IN_WEIHUI)
    _import(session, _point_csv(tmp_path, *bd), crs="百度")
    assert _stored(session) == (
        pytest.approx(IN_WEIHUI[0], abs=1e-7),
        pytest.approx(IN_WEIHUI[1], abs=1e-7),
    )


def _meridian_arc(lat_deg: float) -> float:
    """Length of the meridian from the equator on the CGCS2000 ellipsoid (Helmert's series),
    the northing of a point on a Gauss-Kruger central meridian: independent of pyproj."""
    a, f = 6378137.0, 1 / 298.257222101
    n = f / (2 - f)
    phi = np.radians(lat_deg)
    big_a = a / (1 + n) * (1 + n**2 / 4 + n**4 / 64)
    terms = (
        phi
        - (3 * n / 2 - 9 * n**3 / 16) * np.sin(2 * phi)
        + (15 * n**2 / 16 - 15 * n**4 / 32) * np.sin(4 * phi)
        - (35 * n**3 / 48) * np.sin(6 * phi)
        + (315 * n**4 / 512) * np.sin(8 * phi)
    )
    return float(big_a * terms)


@pytest.mark.parametrize(
    ("crs", "easting", "headers"),
    [
        ("CGCS2000-GK3-38", 38_500_000.0, "X坐标,Y坐标"),  # zone number in the easting
        ("CGCS2000-GK3-114E", 500_000.0, "横坐标,纵坐标"),
        (None, 38_500_000.0, "x,y"),  # the zone number says which zone it is
    ],
)
def test_gauss_kruger_on_the_central_meridian(
    session: Session, tmp_path: Path, crs: str | None, easting: float, headers: str
) -> None:
    lat = 35.40
    summary = _import(session, _point_csv(tmp_path, easting, _meridian_arc(lat), headers), crs=crs)
    assert summary.created == 1
    assert _stored(session) == (pytest.approx(114.0, abs=1e-8), pytest.approx(lat, abs=1e-8))


def test_surveyors_x_is_the_northing(session: Session, tmp_path: Path) -> None:
    northing = _meridian_arc(35.40)
    path = _point_csv(tmp_path, northing, 500_000.0, "X,Y")
    summary = _import(session, path, crs="CGCS2000-GK3-114E")
    assert _stored(session) == (pytest.approx(114.0, abs=1e-8), pytest.approx(35.40, abs=1e-8))
    assert any("北坐标" in zh for zh, _ in summary.notes)


def test_projected_metres_without_crs_say_which_option(session: Session, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="CGCS2000-GK3-114E"):
        _import(session, _point_csv(tmp_path, 500_000.0, _meridian_arc(35.4)))


def test_crs_column_is_honoured(session: Session, tmp_path: Path) -> None:
    gcj = wgs84_to_gcj02(*IN_WEIHUI)
    path = tmp_path / "crs.csv"
    path.write_text(
        f"编号,类别,县区,名称,经度,纬度,坐标系\nFW-410781-63001,一般损坏,卫辉,甲,{gcj[0]!r},{gcj[1]!r},高德\n"
    )
    _import(session, path)
    assert _stored(session) == (
        pytest.approx(IN_WEIHUI[0], abs=1e-7),
        pytest.approx(IN_WEIHUI[1], abs=1e-7),
    )


def _edge_point(session: Session) -> tuple[float, float, str]:
    """A WGS84 point just inside Xinxiang whose GCJ-02 reading lies outside the city."""
    city = shapely.from_wkb(
        bytes(
            session.execute(text("SELECT ST_AsBinary(ST_Union(geom)) FROM counties")).scalar_one()
        )
    )
    inner = city.buffer(-0.001).boundary
    for d in np.linspace(0, inner.length, 400):
        p = inner.interpolate(d)
        if not city.covers(Point(wgs84_to_gcj02(p.x, p.y))):
            county = session.execute(
                text(
                    "SELECT adcode FROM counties "
                    "WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                ),
                {"x": p.x, "y": p.y},
            ).scalar_one()
            return p.x, p.y, county
    raise AssertionError("no edge point found")


def test_phone_map_coordinates_outside_the_city_get_the_gcj02_hint(
    session: Session, tmp_path: Path
) -> None:
    x, y, county = _edge_point(session)
    gx, gy = wgs84_to_gcj02(x, y)
    path = tmp_path / "edge.csv"
    path.write_text(
        f"编号,类别,县区代码,名称,经度,纬度\nFW-{county}-63009,一般损坏,{county},甲,{gx!r},{gy!r}\n"
    )
    with pytest.raises(ImportRejected) as caught:
        _import(session, path)
    assert "--crs GCJ-02" in caught.value.problems[0].zh
    assert _import(session, path, crs="gcj02").created == 1


# --- Bad input ---------------------------------------------------------------------------------


def test_bad_files_are_refused_with_a_message(session: Session, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER)
    no_geometry = tmp_path / "nogeom.csv"
    no_geometry.write_text("编号,类别,县区,名称\nFW-410781-64001,一般损坏,卫辉,甲\n")
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 not really a workbook")
    encrypted = tmp_path / "locked.xlsx"
    encrypted.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    # A first row one value longer than the header: pandas took its first value as an index
    # and read every value one column to the left.
    longer = tmp_path / "longer.csv"
    longer.write_text(HEADER + GOOD_ROWS[0].replace("\n", ",多出的值\n") + GOOD_ROWS[1])
    unclosed = tmp_path / "quote.csv"
    unclosed.write_text(HEADER + GOOD_ROWS[0] + GOOD_ROWS[1].replace("测试住房二", '"测试住房二'))
    cases = {
        empty: "空文件",
        header_only: "没有数据行",
        no_geometry: "没有坐标列",
        corrupt: "已损坏",
        encrypted: "密码",
        longer: "第 2 行有 13 个值，而表头只有 12 列",
        unclosed: "第 3 行的引号",
    }
    for path, words in cases.items():
        with pytest.raises(InvalidInput) as caught:
            _import(session, path)
        assert words in caught.value.zh, (path.name, caught.value.zh)


def test_mixed_geometries_and_county_mismatch(session: Session, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "编号": ["SL-410781-65001", "SL-410781-65002", "SL-410781-65003"],
            "类别": ["水库", "堤防", "水闸"],
            "县区": ["卫辉市", "卫辉市", "辉县市"],
            "名称": ["a", "b", "c"],
        },
        geometry=[Point(*IN_WEIHUI), LineString([IN_WEIHUI, (114.08, 35.41)]), Point(*IN_WEIHUI)],
        crs=4326,
    )
    path = tmp_path / "works.gpkg"
    frame.to_file(path)
    with pytest.raises(ImportRejected) as caught:
        _import(session, path, layer="water_works")
    (problem,) = caught.value.problems
    assert problem.row == 3 and "卫辉市" in problem.zh and problem.column == "县区"
    with pytest.raises(ImportRejected) as caught:
        _import(session, path, layer="houses")
    assert any("LineString" in p.zh for p in caught.value.problems)


def test_duplicate_code_against_the_database_points_at_update(
    session: Session, tmp_path: Path
) -> None:
    path = _csv(tmp_path, GOOD_ROWS)
    _import(session, path)
    with pytest.raises(ImportRejected) as caught:
        _import(session, path)
    assert "--update" in caught.value.problems[0].zh


def test_mapping_file(session: Session, tmp_path: Path) -> None:
    mapping = tmp_path / "county.toml"
    mapping.write_text(
        '[columns]\n"房屋ID" = "code"\n"危房类型" = "kind"\n"地址村" = "village"\n'
        '"身份证" = "ignore"\n"层数" = "extra"\n'
        '[values.kind]\n"C级" = "general_repair"\n"D级" = "self_rebuild"\n'
        '[extra]\npublic = ["层数"]\n[read]\ncrs = "GCJ-02"\n',
        encoding="utf-8",
    )
    gcj = wgs84_to_gcj02(*IN_WEIHUI)
    path = tmp_path / "own.csv"
    path.write_text(
        f"房屋ID,危房类型,县区,地址村,身份证,层数,经度,纬度\n"
        f"FW-410781-66001,D级,卫辉,甲村,410000000000000000,2,{gcj[0]!r},{gcj[1]!r}\n",
        encoding="utf-8",
    )
    summary = import_inventory(
        session, path=path, layer="houses", options=ImportOptions(mapping=mapping)
    )
    asset = _asset(session, "FW-410781-66001")
    assert (asset.kind, asset.village, asset.extra) == ("self_rebuild", "甲村", {"层数": "2"})
    assert asset.extra_personal == {} and summary.ignored_columns == ["身份证"]
    assert asset.x == pytest.approx(IN_WEIHUI[0], abs=1e-7)


# --- Updates -----------------------------------------------------------------------------------


def test_update_matches_by_code_and_reports_progress(session: Session, tmp_path: Path) -> None:
    _import(session, _csv(tmp_path, GOOD_ROWS))
    path = tmp_path / "second.csv"
    path.write_text(
        "编号,村,计划投资（万元）,形象进度,完成百分比\n"
        "FW-410781-60001,甲村东,1200.5,已开工,40\n"
        "FW-410781-60002,乙村,3,,\n"
        "FW-410781-60003,,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected):  # the new row lacks kind, county and location
        _import(session, path, mode="update")
    path.write_text(path.read_text().replace("FW-410781-60003,,,,\n", ""), encoding="utf-8")
    observed = dt.datetime(2022, 5, 31, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    summary = _import(session, path, mode="update", observed_at=observed)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
    assert summary.progress == {"applied": 1}
    one = _asset(session, "FW-410781-60001")
    assert (one.village, one.stage, one.percent, one.version) == ("甲村东", "started", 40, 3)
    event = session.execute(
        text("SELECT observed_at, note FROM asset_events WHERE asset_id = :i"), {"i": one.id}
    ).one()
    assert event.observed_at == observed and "台账导入" in event.note
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("名称,形象进度\n测试住房一,已开工\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no code column"):  # not "no kind" for every row
        _import(session, nameless, mode="update")
    back = tmp_path / "back.csv"
    back.write_text("编号,形象进度\nFW-410781-60001,未开工\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:  # the field-report rule: no going back
        _import(session, back, mode="update")
    assert "不能倒退" in caught.value.problems[0].zh


def test_a_refused_progress_report_leaves_nothing_behind(session: Session, tmp_path: Path) -> None:
    """The refusal comes while writing, after the other rows' reports were recorded: the
    import's own savepoint takes them back, whatever the caller does with its transaction."""
    _import(session, _csv(tmp_path, GOOD_ROWS))
    first = tmp_path / "first.csv"
    first.write_text("编号,形象进度,完成百分比\nFW-410781-60001,已开工,40\n", encoding="utf-8")
    _import(session, first, mode="update")
    second = tmp_path / "second.csv"
    second.write_text(
        "编号,村,形象进度,完成百分比\n"
        "FW-410781-60001,甲村东,未开工,0\n"
        "FW-410781-60002,乙村东,已开工,30\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as caught:
        _import(session, second, mode="update")
    assert [p.row for p in caught.value.problems] == [2]
    two = _asset(session, "FW-410781-60002")
    assert (two.stage, two.village) == ("not_started", "乙村")
    events = "SELECT count(*) FROM asset_events WHERE asset_id = :i"
    assert session.execute(text(events), {"i": two.id}).scalar_one() == 0


# --- Atomicity and round trip ------------------------------------------------------------------


def test_round_trip_through_the_layer_export(session: Session, tmp_path: Path) -> None:
    from gis import layer_exports
    from gis.access import TERMINAL

    _import(session, _csv(tmp_path, GOOD_ROWS))
    export = layer_exports.check_export(
        session, principal=TERMINAL, layer="houses", as_of=dt.date.today(), county="410781"
    )
    whole = tmp_path / "whole.gpkg"
    layer_exports.write_geopackage(session, export, whole)
    frame = pyogrio.read_dataframe(whole, layer="houses")
    frame = frame[frame["code"].str.startswith("FW-410781-6000")]
    path = tmp_path / "export.gpkg"
    pyogrio.write_dataframe(frame, path, layer="houses", driver="GPKG")
    columns = (
        "kind",
        "county_adcode",
        "name",
        "town",
        "village",
        "planned_investment_wan",
        "householder_name",
        "stage",
        "percent",
        "extra",
        "extra_personal",
    )
    before = session.execute(
        text(
            f"SELECT code, {', '.join(columns)}, ST_AsText(geom) FROM assets "
            "WHERE code LIKE 'FW-410781-6000%' ORDER BY code"
        )
    ).all()
    session.execute(text("DELETE FROM assets WHERE code LIKE 'FW-410781-6000%'"))
    summary = _import(session, path)
    assert summary.created == 2 and set(summary.extra_columns) == {"户数", "备注"}
    after = session.execute(
        text(
            f"SELECT code, {', '.join(columns)}, ST_AsText(geom) FROM assets "
            "WHERE code LIKE 'FW-410781-6000%' ORDER BY code"
        )
    ).all()
    assert after == before


_BULK_HEADER = (
    "编号,工程类别,县区,工程名称,村,经度,纬度,计划投资(万元),到位资金,安置户数,是否脱贫地区,"
    "形象进度,完成百分比,户数,备注\n"
)
_STORED = """
    SELECT a.code, a.layer, a.kind, a.county_adcode, a.name, a.town, a.village, a.batch,
           a.households, a.planned_investment_wan, a.funds_secured_wan,
           a.poverty_alleviated_area, a.worst_hit_area, a.householder_name, a.stage, a.percent,
           a.stage_observed_at, a.version, a.extra, a.extra_personal, ST_AsEWKB(a.geom),
           e.stage, e.percent, e.observed_at, e.reporter_id, e.note
      FROM assets a LEFT JOIN asset_events e ON e.asset_id = a.id
     ORDER BY a.id
"""

# The tile cells with the ids summed as from 1: a rolled-back import keeps the ids it took.
_CELLS = """
    SELECT c.layer, c.level, c.cx, c.cy, c.county_adcode, c.kind, c.batch_key, c.stage, c.n,
           c.sum_x, c.sum_y, c.sum_id - c.n * (SELECT min(id) - 1 FROM assets)
      FROM tile_cells c ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
"""


def test_a_bulk_load_stores_what_the_staging_table_stores(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From load.BULK_MIN new rows into an empty table the rows are copied straight in
    (load.copy_new: casts and defaults in numpy, COPY FREEZE, keys rebuilt, recounts): the same
    assets in the same order, with the same first events, tallies and tile cells, as when they
    are staged and inserted. Empty amounts, counts, flags, stages and extras included."""
    kinds = ["一般损坏", "倒塌", "集中安置"]
    stages = ["", "已开工", "竣工", "前期完成"]
    rows = [
        f"FW-410781-7{n:04d},{kinds[n % 3]},{'卫辉市' if n % 4 else ''},"
        f"{'' if n % 5 == 0 else f'住房{n}'},甲村,{114.07 + n * 1e-5:.5f},35.40,"
        f"{'' if n % 7 == 0 else f'{n / 3:.2f}'},{'' if n % 2 else '1.5'},"
        f"{n % 9 + 1 if n % 3 == 2 else ''},{'是' if n % 6 == 0 else ''},{stages[n % 4]},"
        f"{'30' if n % 4 == 1 else ''},{n % 4 or ''},{'说明' if n % 8 == 0 else ''}\n"
        for n in range(60)
    ]
    path = tmp_path / "bulk.csv"
    path.write_text(_BULK_HEADER + "".join(rows), encoding="utf-8")
    copied = []
    original = load.copy_new
    monkeypatch.setattr(load, "copy_new", lambda *a, **k: copied.append(1) or original(*a, **k))
    observed = dt.datetime(2026, 5, 1, 8, tzinfo=dt.UTC)
    stored = []
    for bulk_min in (10**9, 50):
        monkeypatch.setattr(load, "BULK_MIN", bulk_min)
        savepoint = session.begin_nested()
        assert _count(session) == 0  # an empty table: the bulk path's condition
        summary = _import(session, path, observed_at=observed)
        assert summary.created == 60, summary.text()
        stored.append(
            [
                session.execute(text(_STORED)).all(),
                session.execute(text("SELECT t::text FROM progress_tallies t ORDER BY 1")).all(),
                session.execute(text(_CELLS)).all(),
            ]
        )
        savepoint.rollback()
    assert copied == [1]  # the second import only
    assert stored[0] == stored[1]
    stages = {r[14] for r in stored[0][0]}
    assert stages == {"not_started", "started", "completed", "preparatory_done"}


def test_a_large_import_into_a_kept_table_is_staged(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From load.BULK_MIN rows into a table that holds assets: staged and checked against them.
    A code already used refuses the file and keeps nothing of it; without one, every row is
    kept, the tallies and tile cells kept by the triggers are those a recount gives, and the
    table was not locked against readers meanwhile."""
    monkeypatch.setattr(load, "BULK_MIN", 50)
    monkeypatch.setattr(load, "copy_new", None)  # the bulk path would fail
    _import(session, _csv(tmp_path, GOOD_ROWS))
    before = [
        session.execute(text(q)).all()
        for q in (_STORED, "SELECT t::text FROM progress_tallies t ORDER BY 1", _CELLS)
    ]
    rows = [
        f"FW-410781-7{n:04d},{['一般损坏', '倒塌'][n % 2]},卫辉市,住房{n},甲村,"
        f"{114.07 + n * 1e-5:.5f},35.40,,,,,{['', '已开工', '竣工'][n % 3]},,,\n"
        for n in range(60)
    ]
    taken = [*rows[:59], rows[59].replace("FW-410781-70059", "FW-410781-60002")]
    path = tmp_path / "taken.csv"
    path.write_text(_BULK_HEADER + "".join(taken), encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        _import(session, path)
    assert [(p.row, p.value) for p in caught.value.problems] == [(61, "FW-410781-60002")]
    assert "--update" in caught.value.problems[0].zh
    after = [
        session.execute(text(q)).all()
        for q in (_STORED, "SELECT t::text FROM progress_tallies t ORDER BY 1", _CELLS)
    ]
    assert after == before

    path.write_text(_BULK_HEADER + "".join(rows), encoding="utf-8")
    summary = _import(session, path)
    assert (summary.created, summary.skipped) == (60, 0)
    assert _count(session) == 62
    events = "SELECT count(*) FROM asset_events e JOIN assets a ON a.id = e.asset_id"
    assert session.execute(text(events + " WHERE a.code LIKE 'FW-410781-7%'")).scalar_one() == 40
    for table, rebuild in (("progress_tallies", "tally_rebuild"),
                           ("tile_cells", "tile_cells_rebuild")):  # fmt: skip
        assert_as_recounted(session, f"SELECT t::text FROM {table} t ORDER BY 1", rebuild)
    locked = (
        "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
        "AND relation = 'assets'::regclass AND mode = 'AccessExclusiveLock'"
    )
    assert session.execute(text(locked)).scalar_one() == 0
