import re
from collections.abc import Iterator

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from api.main import create_app
from gis import db
from gis.health import head_revision
from gis.settings import Settings
from tests.conftest import Databases, test_db_name


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


@pytest.fixture
def unmigrated(databases: Databases) -> Iterator[str]:
    """A PostGIS database that was never migrated."""
    name = test_db_name("_unmigrated")
    url = databases.create(name)
    yield url
    db.make_engine(url).dispose()
    databases.drop(name)


def _served(settings: Settings, url: str) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"database_url": url})))


def test_a_database_never_migrated_is_a_503_with_the_fix(
    settings: Settings, unmigrated: str
) -> None:
    with _served(settings, unmigrated) as app:
        answers = [
            app.get("/healthz"),
            app.get("/ogc/collections"),
            app.get("/ogc/collections/houses/items", headers={"Authorization": "Bearer x"}),
            app.post("/auth/token", data={"username": "a", "password": "b"}),
        ]
    for response in answers:
        assert response.status_code == 503, response.text
        body = response.json()
        assert "rebuild migrate" in body["message"] and body["error"] == "schema_not_ready"


def test_an_old_schema_is_a_503_naming_both_revisions(settings: Settings, unmigrated: str) -> None:
    db.migrate(unmigrated, "0001")
    with _served(settings, unmigrated) as app:
        health = app.get("/healthz")
        items = app.get("/ogc/collections/houses/items", headers={"Authorization": "Bearer x"})
    assert health.status_code == items.status_code == 503
    assert "0001" in health.json()["message"] and head_revision() in health.json()["message"]
    assert "0001" in items.json()["message_en"]
