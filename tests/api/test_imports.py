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


def _post(client: TestClient, body: bytes, name: str = "台账.csv", **data):
    files = {"file": (name, body, "application/octet-stream")}
    return client.post("/imports", files=files, data={"layer": "houses", **data})


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
