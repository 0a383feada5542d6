"""The progress workbook, opened with openpyxl: cells, styles, print setup, who sees what."""

import io
import zipfile
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from shapely.geometry import Point
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from gis import exports
from gis.assets import create_asset
from tests.api.conftest import Person
from tests.samples import WEIHUI_HOUSE

RULE_TITLE = "农村住房：一般损坏房屋完成加固修缮（2021-10-31 前）"


def _book(client: TestClient, person: Person, query: str = "as_of=2021-11-10"):
    answer = client.get(f"/exports/progress.xlsx?{query}", headers=person.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in answer.headers["content-disposition"]
    return load_workbook(io.BytesIO(answer.content))


def _raw(client: TestClient, person: Person, query: str = "as_of=2021-11-10") -> bytes:
    return client.get(f"/exports/progress.xlsx?{query}", headers=person.headers).content


def _find(sheet, value):
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value == value:
                return cell
    raise AssertionError(f"{value!r} not in {sheet.title}")


def test_summary_sheet(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    book = _book(client, people["viewer"])
    assert book.sheetnames[:3] == ["汇总 Summary", "图表 Charts", "逾期 Overdue"]
    summary = book["汇总 Summary"]
    assert summary["A1"].value == "新乡市灾后重建进度表（截至 2021-11-10）"
    title = _find(summary, RULE_TITLE)
    col = title.column
    weihui = _find(summary, "卫辉市").row
    total = _find(summary, "全市合计 Total").row
    assert [summary.cell(weihui, col + i).value for i in range(4)] == [4, 2, 0.5, "已逾期"]
    assert [summary.cell(total, col + i).value for i in range(3)] == [5, 3, 0.6]
    assert summary.cell(weihui, col + 2).number_format == "0.0%"
    assert summary.cell(weihui, col + 3).fill.fgColor.rgb.endswith("FFC7CE")  # red: overdue
    assert summary.freeze_panes == "B6"
    assert summary.page_setup.orientation == "landscape" and summary.page_setup.paperSize == 9
    assert summary.print_title_rows == "$4:$5"


def test_overdue_and_layer_sheets(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    book = _book(client, people["viewer"])
    overdue = book["逾期 Overdue"]
    codes = {overdue.cell(r, 1).value for r in range(4, overdue.max_row + 1)}
    assert codes == {"FW-410781-60002", "FW-410781-60003"}  # H3 (rejected) and H4
    houses_sheet = book["农村住房"]
    rows = {houses_sheet.cell(r, 1).value: r for r in range(4, houses_sheet.max_row + 1)}
    assert houses_sheet.cell(rows["FW-410781-60000"], 11).value == "已完工"
    assert houses_sheet.cell(rows["FW-410782-60000"], 11).value == "已完工"  # H5 by 11-10
    assert "住户信息（个人信息）" not in book.sheetnames  # a viewer never gets personal data
    assert "张某" not in {c.value for row in houses_sheet.iter_rows() for c in row}


def test_a_large_layer_is_summed_by_village_and_long_lists_are_cut(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exports, "DETAIL_ROWS", 4)  # five houses: more than the bound
    monkeypatch.setattr(exports, "OVERDUE_ROWS", 1)
    book = _book(client, people["admin"])
    assert "农村住房" not in book.sheetnames
    villages = book["农村住房（按村汇总）"]
    assert "共 5 个" in villages["A2"].value and "/exports/houses.gpkg" in villages["A2"].value
    header = [c.value for c in villages[4]]
    assert header[:9] == [
        "县区 County", "乡镇 Town", "村 Village", "总数 Assets",
        "未开工", "前期完成", "已开工", "已完工", "已验收（具备入住条件）",
    ]  # fmt: skip
    rows = {villages.cell(r, 1).value: [c.value for c in villages[r]] for r in range(5, 7)}
    # 卫辉市 on 11-10: H1, H2 completed; H3 (rejected) and H4 not started. 辉县市: H5 completed.
    assert rows["卫辉市"][3:9] == [4, 2, 0, 0, 2, 0] and rows["卫辉市"][9] == 0.5
    assert rows["辉县市"][3:9] == [1, 0, 0, 0, 1, 0]
    assert villages.cell(5, 10).number_format == "0.0%"
    # Summed rows carry no householders: there is no personal sheet even for an admin.
    assert "住户信息（个人信息）" not in book.sheetnames
    overdue = book["逾期 Overdue"]
    assert overdue.max_row == 4 and "前 1 条" in overdue["A2"].value


def test_personal_data_only_for_those_allowed_and_only_their_county(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    book = _book(client, people["manager_weihui"])
    personal = book["住户信息（个人信息）"]
    assert "个人信息" in personal["A1"].value
    counties = {personal.cell(r, 2).value for r in range(4, personal.max_row + 1)}
    assert counties == {"卫辉市"}
    assert "辉县市" not in {c.value for c in book["农村住房"]["B"]}  # the manager's county only
    refused = client.get(
        "/exports/progress.xlsx?county=410782", headers=people["manager_weihui"].headers
    )
    assert refused.status_code == 403


def test_user_text_never_becomes_a_formula(
    client: TestClient, session: Session, people: dict[str, Person]
) -> None:
    evil = '=HYPERLINK("http://evil.example","点我")'
    create_asset(
        session,
        asset_in=replace(
            WEIHUI_HOUSE, code="FW-410781-66666", village=evil, name="+1+1", town="@SUM(A1)",
            geometry=Point(114.071, 35.401),
        ),
    )  # fmt: skip
    sheet = _book(client, people["admin"], "as_of=2022-01-01")["农村住房"]
    row = next(
        r for r in range(4, sheet.max_row + 1) if sheet.cell(r, 1).value == "FW-410781-66666"
    )
    for col, value in ((4, evil), (5, "+1+1"), (3, "@SUM(A1)")):
        cell = sheet.cell(row, col)
        assert (cell.value, cell.data_type) == (value, "s")
        assert cell.quotePrefix is True


def test_cli_writes_the_same_workbook(database_url: str, tmp_path) -> None:
    out = tmp_path / "progress.xlsx"
    env = {"REBUILD_DATABASE_URL": database_url}
    result = CliRunner().invoke(
        app, ["export", "progress", "--as-of", "2022-05-31", "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert book["汇总 Summary"]["A1"].value == "新乡市灾后重建进度表（截至 2022-05-31）"


def test_summary_csv_opens_in_excel_and_pandas(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    import pandas as pd

    answer = client.get("/exports/progress.csv?as_of=2021-11-10", headers=people["viewer"].headers)
    assert answer.status_code == 200 and answer.content.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(io.BytesIO(answer.content), encoding="utf-8-sig")
    assert list(table.columns)[:2] == ["时间节点 rule", "图层 layer"]
    weihui = table[
        (table["时间节点 rule"] == "一般损坏房屋完成加固修缮") & (table["县区 county"] == "卫辉市")
    ]
    assert (
        weihui.iloc[0]["已完成 reached"] == 2 and weihui.iloc[0]["状态 status"] == "已逾期 overdue"
    )


def test_csv_cells_never_start_a_formula(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    renamed = client.put(
        "/deadlines/houses_general_repair",
        json={"label_zh": "=cmd|' /C calc'!A0"},
        headers=people["admin"].headers,
    )
    assert renamed.status_code == 200
    text = client.get(
        "/exports/progress.csv?as_of=2021-11-10", headers=people["viewer"].headers
    ).content.decode("utf-8-sig")
    assert "\r\n'=cmd|' /C calc'!A0," in text


def test_cli_writes_csv_by_suffix(database_url: str, tmp_path) -> None:
    out = tmp_path / "progress.csv"
    env = {"REBUILD_DATABASE_URL": database_url}
    result = CliRunner().invoke(
        app, ["export", "progress", "--as-of", "2022-05-31", "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith("\ufeff时间节点 rule".encode())


def test_one_workbook_per_county_in_a_zip(
    client: TestClient, people: dict[str, Person], houses: dict[str, int]
) -> None:
    def names(who: str) -> list[str]:
        answer = client.get("/exports/progress.zip?as_of=2021-11-10", headers=people[who].headers)
        assert answer.status_code == 200
        return zipfile.ZipFile(io.BytesIO(answer.content)).namelist()

    assert names("inspector_weihui") == ["410781_卫辉市_进度_2021-11-10.xlsx"]
    everything = names("viewer")
    assert len(everything) == 12 and "410782_辉县市_进度_2021-11-10.xlsx" in everything
    answer = client.get("/exports/progress.zip?as_of=2021-11-10", headers=people["viewer"].headers)
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    book = load_workbook(io.BytesIO(archive.read("410781_卫辉市_进度_2021-11-10.xlsx")))
    assert _find(book["汇总 Summary"], "卫辉市")


def test_burn_up_charts_in_the_workbook(
    client: TestClient, people: dict[str, Person], houses: dict[str, int]
) -> None:
    book = _book(client, people["viewer"])
    charts = book["图表 Charts"]
    header = _find(charts, "一般损坏房屋完成加固修缮 已完成")
    months = {charts.cell(r, 1).value.date().isoformat(): charts.cell(r, header.column).value
              for r in range(4, charts.max_row + 1) if charts.cell(r, 1).value}  # fmt: skip
    assert months["2021-09-30"] == 0 and months["2021-10-31"] == 2 and months["2021-11-10"] == 3
    with zipfile.ZipFile(io.BytesIO(_raw(client, people["viewer"]))) as parts:
        charts_xml = [n for n in parts.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts_xml) == len({c.value for c in charts[3] if c.value}) // 2
