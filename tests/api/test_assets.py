"""GET /assets/{id}: one asset with its current state and an ETag carrying its version."""

from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from tests.samples import IN_HUIXIAN, WEIHUI_HOUSE


def _house(session: Session) -> int:
    site = replace(
        WEIHUI_HOUSE,
        code="FW-410782-70001",
        kind="resettlement_site",
        county_adcode="410782",
        name="测试安置区",
        geometry=IN_HUIXIAN,
        households=120,
    )
    return create_asset(session, asset_in=site)


def test_asset_with_etag(admin_client: TestClient, session: Session) -> None:
    asset_id = _house(session)
    response = admin_client.get(f"/assets/{asset_id}")
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert body["id"] == asset_id
    assert body["properties"]["households"] == 120
    assert body["properties"]["version"] == 1


def test_etag_follows_the_version(admin_client: TestClient, session: Session) -> None:
    asset_id = _house(session)
    session.execute(text("UPDATE assets SET version = version + 1 WHERE id = :i"), {"i": asset_id})
    response = admin_client.get(f"/assets/{asset_id}", headers={"If-None-Match": '"1"'})
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    unchanged = admin_client.get(f"/assets/{asset_id}", headers={"If-None-Match": '"2"'})
    assert unchanged.status_code == 304


def test_unknown_asset_is_a_clear_404(admin_client: TestClient) -> None:
    response = admin_client.get("/assets/999999999")
    assert response.status_code == 404
    assert "999999999" in response.json()["message"]


def test_bad_asset_id_is_a_clear_422(admin_client: TestClient) -> None:
    response = admin_client.get("/assets/abc")
    assert response.status_code == 422
    assert response.json()["message"].startswith("请求参数有误")
