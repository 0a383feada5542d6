import re

from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from api.main import create_app
from gis import db
from gis.settings import Settings


def test_healthz_checks_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")
    assert body["counties"] == 12
    head = ScriptDirectory.from_config(db.alembic_config("postgresql://")).get_current_head()
    assert body["schema_revision"] == head


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/assets/{asset_id}", "/ogc/collections/{collection_id}/items"} <= set(
        paths
    )


def test_docs_load_nothing_from_the_internet(client: TestClient) -> None:
    page = client.get("/docs").text
    assets = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", page)
    assert assets, "the docs page references no script or style"
    assert all(not a.startswith(("http://", "https://", "//")) for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_index_page_is_chinese_first_and_offline(admin_client: TestClient) -> None:
    page = admin_client.get("/").text
    assert "灾后重建进度追踪" in page
    assert not re.search(r"""(src|href)=["']https?://""", page), "page loads something remote"


UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"


def test_healthz_is_503_with_a_message_when_the_database_is_down(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"database_url": UNREACHABLE}))
    with TestClient(app) as down:
        response = down.get("/healthz")
        # checking the token needs the database too
        items = down.get("/ogc/collections/houses/items", headers={"Authorization": "Bearer x"})
    assert response.status_code == 503
    assert "数据库暂时不可用" in response.json()["message"]
    assert items.status_code == 503
