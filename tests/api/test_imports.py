"""POST /imports: the inventory import over HTTP, its answer and its report workbook."""

import io
import zipfile

import geopandas as gpd
import openpyxl
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

CSV = (
    "编号,类别,县区,名称,经度,纬度\n"
    "FW-410781-78001,一般损坏,卫辉,甲,114.07,35.40\n"
    "FW-410781-78002,塔,卫辉,乙,114.07,35.40\n"
)


def _post(client: TestClient, body: bytes, name: str = "台账.csv", headers=None, **data):
    files = {"file": (name, body, "application/octet-stream")}
    return client.post("/imports", files=files, data={"layer": "houses", **data}, headers=headers)


def test_bad_rows_answer_422_with_each_problem(admin_client: TestClient, session: Session) -> None:
    response = _post(admin_client, CSV.encode())
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "import_rejected"
    (problem,) = body["summary"]["problems"]
    assert (problem["row"], problem["column"], problem["value"]) == (3, "类别", "塔")
    assert (
        session.execute(
            text("SELECT count(*) FROM assets WHERE code LIKE 'FW-410781-780%'")
        ).scalar_one()
        == 0
    )


def test_skip_invalid_and_report_workbook(admin_client: TestClient, session: Session) -> None:
    response = admin_client.post(
        "/imports?report=xlsx",
        files={"file": ("台账.csv", CSV.encode("gbk"), "text/csv")},
        data={"layer": "houses", "skip_invalid": "true"},
    )
    assert response.status_code == 200
    rows = list(
        openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True)
    )
    assert rows[1][0] == 3 and "塔" in rows[1][1]
    assert (
        session.execute(
            text("SELECT count(*) FROM assets WHERE code LIKE 'FW-410781-780%'")
        ).scalar_one()
        == 1
    )


def test_zipped_shapefile(admin_client: TestClient, tmp_path) -> None:
    frame = gpd.GeoDataFrame(
        {"编号": ["FW-410781-78101"], "类别": ["一般损坏"], "县区": ["卫辉市"], "名称": ["甲"]},
        geometry=[Point(114.07, 35.40)],
        crs=4326,
    )
    frame.to_file(tmp_path / "houses.shp", encoding="GBK")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in tmp_path.iterdir():
            zipped.write(part, f"folder/{part.name}")
    response = _post(admin_client, archive.getvalue(), "houses.zip", dry_run="true")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1 and response.json()["dry_run"] is True


def _asset(session: Session, code: str):
    return session.execute(
        text("SELECT id, stage, percent FROM assets WHERE code = :c"), {"c": code}
    ).one()


def test_a_managers_update_names_them_and_keeps_to_their_counties(
    client: TestClient, session: Session, people
) -> None:
    inventory = (
        "编号,类别,县区,名称,经度,纬度\n"
        "FW-410781-78201,一般损坏,卫辉,甲,114.07,35.40\n"
        "FW-410702-78202,一般损坏,红旗区,乙,113.9362,35.2736\n"
    )
    added = _post(client, inventory.encode(), headers=people["admin"].headers)
    assert added.status_code == 200 and added.json()["created"] == 2
    manager = people["manager_weihui"]
    progress = "编号,形象进度,完成百分比\nFW-410781-78201,已开工,30\n"
    response = _post(client, progress.encode(), mode="update", headers=manager.headers)
    assert response.status_code == 200, response.text
    assert response.json()["progress"] == {"applied": 1}
    weihui = _asset(session, "FW-410781-78201")
    reporter = session.execute(
        text("SELECT reporter_id FROM asset_events WHERE asset_id = :i"), {"i": weihui.id}
    ).scalar_one()
    assert (weihui.stage, weihui.percent, reporter) == ("started", 30, manager.user_id)
    other = "编号,形象进度\nFW-410702-78202,已开工\n"
    refused = _post(client, other.encode(), mode="update", headers=manager.headers)
    assert refused.status_code == 422
    (problem,) = refused.json()["summary"]["problems"]
    assert problem["row"] == 2 and "不在您负责的县区内" in problem["message"]
    assert _asset(session, "FW-410702-78202").stage == "not_started"


def test_extra_columns_are_shown_with_the_asset_personal_ones_only_to_whom_may_see(
    client: TestClient, session: Session, people
) -> None:
    inventory = (
        "编号,类别,县区,名称,经度,纬度,户数,身份证号\n"
        "FW-410781-78301,一般损坏,卫辉,甲,114.07,35.40,2,410781199001010000\n"
    )
    added = _post(client, inventory.encode(), headers=people["admin"].headers)
    assert added.status_code == 200 and set(added.json()["extra_columns"]) == {"户数", "身份证号"}
    asset_id = _asset(session, "FW-410781-78301").id
    seen = {
        who: client.get(f"/assets/{asset_id}", headers=people[who].headers).json()["properties"]
        for who in ("admin", "manager_weihui", "viewer", "inspector_weihui")
    }
    for who, properties in seen.items():
        assert properties["extra"] == {"户数": "2"}, who
    assert seen["admin"]["extra_personal"] == {"身份证号": "410781199001010000"}
    assert seen["manager_weihui"]["extra_personal"] == {"身份证号": "410781199001010000"}
    assert "extra_personal" not in seen["viewer"]
    assert "extra_personal" not in seen["inspector_weihui"]
