"""Layer downloads over HTTP: streamed from a read-only snapshot of their own, so the data they
read is committed, in a database of this module's own (the request's session of the other API
tests is a transaction the download never sees)."""

import asyncio
import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx
import psycopg
import pyogrio
import pytest
import uvicorn
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy.orm import Session

from api.main import create_app
from gis import db, layer_exports, users
from gis.assets import create_asset
from gis.db import DOWNLOADS
from gis.imports import ImportOptions, import_inventory
from gis.settings import Settings
from tests.api.conftest import conninfo, migrated_database, wait_for
from tests.conftest import Databases
from tests.live import free_port
from tests.progress_samples import event
from tests.samples import IN_HUIXIAN, WEIHUI_HOUSE

# Houses of 红旗区 to make the whole city's file larger than a socket's buffers (about 9 MB).
MANY = 12_000
PEOPLE = {"admin": ("admin", ()), "viewer": ("viewer", ()), "manager": ("manager", ("410781",))}
PASSWORD = "password-layer-1"
# The download's transaction, seen from outside: REPEATABLE READ, opened by the app's pool.
DOWNLOADING = (
    "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND state LIKE '%%in transaction%%'"
)


def _seed(session: Session, folder: Path) -> dict[str, str]:
    """Four houses of 卫辉市 (H2 completed on 2021-10-25) and one of 辉县市 (completed on
    2021-11-05); MANY houses of 红旗区 through the inventory import, with an extra column; one
    account per role. Returns username -> bearer token."""
    made = []
    for n, where in enumerate([(114.07, 35.40), (114.08, 35.41), (114.09, 35.40), (114.07, 35.42)]):
        asset = replace(WEIHUI_HOUSE, code=f"FW-410781-6000{n}", geometry=Point(*where))
        made.append(create_asset(session, asset_in=asset))
    huixian = replace(WEIHUI_HOUSE, code="FW-410782-60000", county_adcode="410782")
    made.append(create_asset(session, asset_in=replace(huixian, geometry=IN_HUIXIAN)))
    event(session, made[1], "completed", 100, "2021-10-25")
    event(session, made[4], "completed", 100, "2021-11-05")
    inventory = folder / "红旗区.csv"
    rows = "".join(
        f"FW-410702-{n:05d},一般损坏,红旗区,住房{n},测试镇,甲村,"
        f"{113.93 + n % 100 * 1e-5:.5f},{35.27 + n // 100 * 1e-5:.5f},某,1.5,1,备注{n}\n"
        for n in range(1, MANY + 1)
    )
    header = "编号,工程类别,县区,工程名称,乡镇,村,经度,纬度,户主,计划投资(万元),户数,备注\n"
    inventory.write_text(header + rows, encoding="utf-8")
    import_inventory(session, path=inventory, layer="houses", options=ImportOptions())
    tokens = {}
    for name, (role, counties) in PEOPLE.items():
        user = users.add_user(
            session, username=f"layer-{name}", password=PASSWORD, role=role, counties=counties
        )
        tokens[name] = users.issue_token(session, user_id=user, kind="bearer", hours=2)[0]
    return tokens


@pytest.fixture(scope="module")
def committed(
    databases: Databases, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    """The module's database, seeded and committed: its URL, and headers per role."""
    with migrated_database(databases, settings, "_layer_exports") as url:
        with db.transaction(db.make_engine(url)) as session:
            tokens = _seed(session, tmp_path_factory.mktemp("inventory"))
        yield url, {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}


@pytest.fixture
def app_settings(committed, settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"database_url": committed[0], "media_dir": tmp_path})


@pytest.fixture
def headers(committed) -> dict[str, dict[str, str]]:
    return committed[1]


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as test_client:
        yield test_client


def _idle(url: str) -> list[tuple]:
    with psycopg.connect(conninfo(url), autocommit=True) as watch:
        return watch.execute(DOWNLOADING).fetchall()


def test_layer_as_a_geopackage_for_qgis(
    client: TestClient, headers: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    answer = client.get(
        "/exports/houses.gpkg?as_of=2021-10-27&county=410781", headers=headers["viewer"]
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/geopackage+sqlite3"
    assert answer.headers["cache-control"] == "private, no-store"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="rebuild-houses-410781-2021-10-27.gpkg"'
    )
    path = tmp_path / "houses.gpkg"
    path.write_bytes(answer.content)
    info = pyogrio.read_info(path, layer="houses")
    assert dict(zip(info["fields"], info["dtypes"], strict=True)) == {
        "id": "int64", "code": "object", "layer": "object", "kind": "object",
        "kind_zh": "object", "county_adcode": "object", "county_zh": "object",
        "town": "object", "village": "object", "name": "object", "batch": "object",
        "households": "object", "planned_investment_wan": "object",
        "funds_secured_wan": "object", "stage": "object", "percent": "int64",
        "stage_zh": "object", "as_of": "object",
    }  # fmt: skip
    assert info["geometry_type"] == "Point" and info["crs"] == "EPSG:4326"
    frame = pyogrio.read_dataframe(path, layer="houses")
    assert len(frame) == 4
    state = dict(zip(frame["code"], frame["stage"], strict=True))
    assert state["FW-410781-60001"] == "completed"  # H2 on the 25th
    assert state["FW-410781-60000"] == "not_started"
    assert set(frame["as_of"]) == {"2021-10-27"}
    assert not list(Path(tempfile.gettempdir()).glob("rebuild-export-*"))  # deleted once sent


@pytest.mark.parametrize("suffix", ["geojson", "gpkg"])
def test_head_answers_without_reading_the_layer(
    client: TestClient,
    headers: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
) -> None:
    """A HEAD (a download manager's first look) gets the GET's headers, and the layer, whose
    body would be thrown away, is not read: at a million houses that would be minutes."""

    def unread(*args: object, **kwargs: object) -> None:
        raise AssertionError("the layer was read for a HEAD")

    monkeypatch.setattr(layer_exports, "geojson_chunks", unread)
    monkeypatch.setattr(layer_exports, "write_geopackage", unread)
    url = f"/exports/houses.{suffix}?as_of=2021-10-27&county=410781"
    answer = client.head(url, headers=headers["viewer"])
    assert answer.status_code == 200 and answer.content == b""
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="rebuild-houses-410781-2021-10-27.{suffix}"'
    )
    assert (
        client.head(url.replace("410781", "999999"), headers=headers["viewer"]).status_code == 422
    )


def test_layer_as_geojson_follows_roles(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    manager = client.get("/exports/houses.geojson?county=410781", headers=headers["manager"])
    assert manager.status_code == 200
    assert manager.headers["content-type"] == "application/geo+json"
    assert manager.headers["cache-control"] == "private, no-store"
    features = manager.json()["features"]
    assert {f["properties"]["county_adcode"] for f in features} == {"410781"}
    assert features[0]["properties"]["householder_name"] == "张某"
    admin = client.get("/exports/houses.geojson?county=410702", headers=headers["admin"]).json()
    assert admin["features"][0]["properties"]["householder_name"] == "某"
    assert admin["features"][0]["properties"]["备注"] == "备注1"  # an extra column, personal
    viewer = client.get("/exports/houses.geojson?county=410702", headers=headers["viewer"]).json()
    assert len(viewer["features"]) == MANY
    for feature in viewer["features"][:3]:
        assert "householder_name" not in feature["properties"]
        assert "householder_phone" not in feature["properties"]
        assert "备注" not in feature["properties"]
        assert feature["properties"]["户数"] == "1"  # an extra column, public, as written
    other = client.get("/exports/houses.geojson?county=410782", headers=headers["manager"])
    assert other.status_code == 403 and other.json()["error"] == "forbidden"
    assert client.get("/exports/bridges.gpkg", headers=headers["viewer"]).status_code in (404, 422)


def test_a_download_of_many_chunks_arrives_whole(
    client: TestClient, headers: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    monkeypatch.setattr(layer_exports, "CHUNK", 1_000)
    with client.stream("GET", "/exports/houses.geojson", headers=headers["admin"]) as answer:
        assert answer.status_code == 200
        body = b"".join(answer.iter_bytes())
    features = json.loads(body)["features"]
    assert len(features) == MANY + 5
    assert [f["properties"]["id"] for f in features] == sorted(
        f["properties"]["id"] for f in features
    )
    monkeypatch.setattr(layer_exports, "GPKG_CHUNK", 2)
    answer = client.get("/exports/houses.gpkg?county=410781", headers=headers["admin"])
    path = tmp_path / "houses.gpkg"
    path.write_bytes(answer.content)
    frame = pyogrio.read_dataframe(path, layer="houses")
    assert len(frame) == 4 and set(frame["householder_name"]) == {"张某"}
    assert not _idle(client.app.state.settings.database_url)


@pytest.mark.parametrize(
    ("query", "field"),
    [("county=999999", "county"), ("as_of=2999-01-01", "as_of"), ("as_of=2020-01-01", "as_of")],
)
def test_bad_requests_are_refused_before_streaming(
    client: TestClient, headers: dict[str, dict[str, str]], query: str, field: str
) -> None:
    for suffix in ("geojson", "gpkg"):
        answer = client.get(f"/exports/houses.{suffix}?{query}", headers=headers["admin"])
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert body["field"] == field and body["message"] and body["message_en"]


def test_downloads_beyond_the_slots_are_refused(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    client.app.state.download_slots = asyncio.Semaphore(0)  # every slot taken
    answer = client.get("/exports/houses.geojson?county=410781", headers=headers["viewer"])
    assert answer.status_code == 503 and answer.headers["retry-after"] == "60"
    assert answer.json()["error"] == "busy" and "下载" in answer.json()["message"]


@pytest.fixture
def served(app_settings: Settings) -> Iterator[str]:
    """The app behind a real HTTP server in this process (a client can go away mid-body)."""
    port = free_port()
    config = uvicorn.Config(create_app(app_settings), port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for("the server", 30, lambda: server.started)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_a_client_that_goes_away_leaves_no_transaction(
    served: str, app_settings: Settings, headers: dict[str, dict[str, str]]
) -> None:
    host, port = served.split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        token = headers["admin"]["Authorization"]
        raw.sendall(
            f"GET /exports/houses.geojson HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {token}\r\n\r\n".encode()
        )
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        # The client reads no more: the server fills the socket and waits, in its transaction.
        wait_for("the download's transaction", 30, lambda: _idle(app_settings.database_url))
        time.sleep(0.2)
    wait_for("no transaction left", 30, lambda: not _idle(app_settings.database_url))
    # The server's slot is free again: downloads to the limit go through.
    for _ in range(DOWNLOADS + 1):
        answer = httpx.get(
            f"http://{served}/exports/houses.geojson?county=410782", headers=headers["viewer"]
        )
        assert answer.status_code == 200 and len(answer.json()["features"]) == 1


def test_the_download_reads_one_snapshot(client: TestClient) -> None:
    """REPEATABLE READ, read only: what db.snapshot promises the download."""
    with db.snapshot(client.app.state.sessions) as session:
        settings = db.driver_rows(
            session,
            "SELECT current_setting('transaction_isolation') AS isolation, "
            "current_setting('transaction_read_only') AS read_only",
            {},
        )[0]
    assert (settings.isolation, settings.read_only) == ("repeatable read", "on")
