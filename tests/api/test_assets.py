"""GET /assets/{id}: one asset with its current state and an ETag carrying its version."""

from dataclasses import replace

from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from gis.crs import wgs84_to_gcj02
from tests.api.conftest import Person
from tests.samples import HONGQI_HOUSE, IN_HUIXIAN, WEIHUI_HOUSE


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


def test_bad_asset_id_names_no_asset(admin_client: TestClient) -> None:
    """As under /ogc/.../items/{id}: a non-numeric id names nothing (404), saying what ids are."""
    response = admin_client.get("/assets/abc")
    assert response.status_code == 404
    assert "正整数" in response.json()["message"]


def test_find_assets_near_a_point_nearest_first(
    client: TestClient, session: Session, people: dict[str, Person]
) -> None:
    near = create_asset(session, asset_in=WEIHUI_HOUSE)
    far = create_asset(
        session,
        asset_in=replace(WEIHUI_HOUSE, code="FW-410781-90002", geometry=Point(114.08, 35.41)),
    )
    create_asset(session, asset_in=HONGQI_HOUSE)
    found = client.get(
        "/assets", params={"near": "114.0701,35.4001", "radius_m": 5000},
        headers=people["inspector_weihui"].headers,
    )  # fmt: skip
    assert found.status_code == 200 and found.headers["content-type"] == "application/geo+json"
    features = found.json()["features"]
    assert [f["id"] for f in features] == [near, far]
    assert features[0]["properties"]["distance_m"] < features[1]["properties"]["distance_m"]
    assert "householder_name" not in features[0]["properties"]
    lon, lat = wgs84_to_gcj02(114.07, 35.40)
    gcj = client.get(
        "/assets", params={"near": f"{lon},{lat}", "crs": "GCJ-02", "radius_m": 50},
        headers=people["inspector_weihui"].headers,
    ).json()  # fmt: skip
    assert [f["id"] for f in gcj["features"]] == [near]


def test_find_assets_by_code_or_village_within_scope(
    client: TestClient, session: Session, people: dict[str, Person]
) -> None:
    create_asset(session, asset_in=WEIHUI_HOUSE)
    hongqi = create_asset(session, asset_in=HONGQI_HOUSE)

    def codes(who: str, q: str) -> list[str]:
        answer = client.get("/assets", params={"q": q}, headers=people[who].headers).json()
        return [f["properties"]["code"] for f in answer["features"]]

    assert codes("inspector_weihui", "FW-4107") == ["FW-410781-90001"]
    assert sorted(codes("admin", "FW-4107")) == ["FW-410702-90001", "FW-410781-90001"]
    assert codes("inspector_weihui", "测试村") == ["FW-410781-90001"]
    assert codes("inspector_weihui", "红旗测试村") == []
    assert codes("admin", "%") == []  # wildcards are taken literally
    manager = client.get("/assets", params={"q": "红旗"}, headers=people["manager_hongqi"].headers)
    assert manager.json()["features"][0]["id"] == hongqi
    assert manager.json()["features"][0]["properties"]["householder_name"] == "李某"


def test_find_assets_needs_a_question(client: TestClient, people: dict[str, Person]) -> None:
    answer = client.get("/assets", headers=people["admin"].headers)
    assert answer.status_code == 422 and answer.json()["field"] == "q"
    bad = client.get("/assets", params={"near": "abc"}, headers=people["admin"].headers)
    assert bad.status_code == 422 and bad.json()["field"] == "near"
