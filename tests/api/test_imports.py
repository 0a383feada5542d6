"""POST /imports: the inventory import over HTTP, its answer and its report workbook."""

import io
import zipfile
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import openpyxl
import psycopg
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.main import create_app
from gis import db, users
from gis.settings import Settings
from tests.api.conftest import BLOCKED_BY, PASSWORD, conninfo, wait_for

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


def test_a_header_row_below_1_is_refused_in_the_projects_words(
    admin_client: TestClient,
) -> None:
    """Before: the form's own check, which says only "应大于或等于 1"."""
    response = _post(admin_client, CSV.encode(), header_row="0")
    assert response.status_code == 422
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid_input", "header_row")
    assert "行号从 1 开始" in body["message"] and "numbered from 1" in body["message_en"]


def test_a_header_row_for_a_gis_file_is_refused(admin_client: TestClient) -> None:
    """Before: ignored without a word."""
    frame = gpd.GeoDataFrame(
        {"编号": ["FW-410781-78201"], "类别": ["一般损坏"], "县区": ["卫辉市"], "名称": ["甲"]},
        geometry=[Point(114.07, 35.40)],
        crs=4326,
    )
    body = frame.to_json().encode()
    response = _post(admin_client, body, name="houses.geojson", header_row="2")
    assert response.status_code == 422
    answer = response.json()
    assert (answer["error"], answer["field"]) == ("invalid_input", "header_row")
    assert answer["message"].startswith("houses.geojson 是 GIS 文件，没有表头行")
    assert "header_row" in answer["message"] and "no header row" in answer["message_en"]
    assert _post(admin_client, body, name="houses.geojson").status_code == 200


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


def test_the_loser_of_two_uploads_of_the_same_codes_gets_409(
    own_url: str, own_engine: Engine, settings: Settings, tmp_path
) -> None:
    """Before: 500. Two real requests, each committing its own transaction: the loser (an
    update that also adds two codes) is held, after its checks found the codes free, by a row
    lock this test takes on the asset it reports on; meanwhile the winner adds the two codes."""
    with db.transaction(own_engine) as session:
        user_id = users.add_user(
            session, username="admin-city", password=PASSWORD, role="admin", counties=()
        )
        token, _ = users.issue_token(session, user_id=user_id, kind="bearer", hours=1)
    headers = {"Authorization": f"Bearer {token}"}
    header = "编号,类别,县区,名称,经度,纬度,形象进度\n"
    both = "".join(f"FW-410781-7840{n},一般损坏,卫辉,乙,114.07,35.40,\n" for n in (2, 3))
    app = create_app(
        settings.model_copy(update={"database_url": own_url, "media_dir": tmp_path / "media"})
    )
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        ThreadPoolExecutor(max_workers=1) as pool,
        psycopg.connect(conninfo(own_url), autocommit=True) as watch,
        psycopg.connect(conninfo(own_url)) as holder,
    ):
        one = header + "FW-410781-78401,一般损坏,卫辉,甲,114.07,35.40,\n"
        assert _post(client, one.encode(), headers=headers).status_code == 200
        holder.execute("SELECT FROM assets WHERE code = 'FW-410781-78401' FOR UPDATE")
        loser = header + "FW-410781-78401,一般损坏,卫辉,甲,114.07,35.40,已开工\n" + both
        pending = pool.submit(_post, client, loser.encode(), headers=headers, mode="update")
        try:
            wait_for(
                "the loser to wait for the asset it reports on",
                60,
                lambda: watch.execute(BLOCKED_BY, (holder.info.backend_pid,)).fetchone(),
            )
            won = _post(client, (header + both).encode(), headers=headers)
            assert won.status_code == 200, won.text
        finally:
            holder.rollback()
        response = pending.result(timeout=60)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "duplicate_code"
    assert body["codes"] == ["FW-410781-78402", "FW-410781-78403"]
    assert "FW-410781-78402、FW-410781-78403" in body["message"]
    assert "未导入任何数据" in body["message"] and "Nothing was imported" in body["message_en"]
    with own_engine.connect() as conn:
        stage = conn.execute(
            text("SELECT stage FROM assets WHERE code = 'FW-410781-78401'")
        ).scalar_one()
        count = conn.execute(
            text("SELECT count(*) FROM assets WHERE code LIKE 'FW-410781-784%'")
        ).scalar_one()
    assert (stage, count) == ("not_started", 3)
