"""OGC API Features: counties and the three layers as GeoJSON, filtered by county, paged."""

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, shape
from sqlalchemy.orm import Session

from gis.assets import create_asset
from gis.models import personal_columns
from tests.api.conftest import Person
from tests.samples import IN_HUIXIAN, WEIHUI_HOUSE

HOUSE = replace(WEIHUI_HOUSE, code="FW-410781-80001", householder_name="李某")


@pytest.fixture
def assets(session: Session) -> dict[str, int]:
    """Three houses (two in 卫辉市, one in 辉县市), a road and a levee."""
    made = {
        "weihui_1": HOUSE,
        "weihui_2": replace(HOUSE, code="FW-410781-80002", geometry=Point(114.08, 35.41)),
        "huixian": replace(
            HOUSE, code="FW-410782-80001", county_adcode="410782", geometry=IN_HUIXIAN
        ),
        "road": replace(
            HOUSE, code="GL-410781-80001", layer="roads", kind="county_road", batch=1,
            geometry=LineString([(114.06, 35.40), (114.07, 35.41)]),
            householder_name=None, householder_phone=None,
        ),
        "levee": replace(
            HOUSE, code="SL-410781-80001", layer="water_works", kind="levee",
            geometry=LineString([(114.06, 35.39), (114.07, 35.40)]),
            householder_name=None, householder_phone=None,
        ),
    }  # fmt: skip
    return {key: create_asset(session, asset_in=a) for key, a in made.items()}


def test_counties_are_the_twelve_real_boundaries(admin_client: TestClient) -> None:
    response = admin_client.get("/ogc/collections/counties/items")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == 12
    ids = [f["id"] for f in body["features"]]
    assert ids == sorted(ids) and ids[0] == "410702" and ids[-1] == "410783"
    weihui = next(f for f in body["features"] if f["id"] == "410781")
    assert weihui["properties"]["name_zh"] == "卫辉市"
    assert shape(weihui["geometry"]).contains(Point(114.07, 35.40))


def test_layer_items_filter_by_county(admin_client: TestClient, assets: dict[str, int]) -> None:
    weihui = admin_client.get("/ogc/collections/houses/items", params={"county": "410781"}).json()
    assert {f["id"] for f in weihui["features"]} == {assets["weihui_1"], assets["weihui_2"]}
    assert weihui["numberMatched"] == 2
    huixian = admin_client.get("/ogc/collections/houses/items", params={"county": "410782"}).json()
    assert [f["id"] for f in huixian["features"]] == [assets["huixian"]]
    roads = admin_client.get("/ogc/collections/roads/items", params={"county": "410781"}).json()
    assert [f["geometry"]["type"] for f in roads["features"]] == ["LineString"]
    assert roads["features"][0]["properties"]["batch"] == 1
    water = admin_client.get("/ogc/collections/water_works/items").json()
    assert [f["properties"]["kind_zh"] for f in water["features"]] == ["河道堤防"]


def test_items_carry_state_but_no_personal_data(
    client: TestClient, people: dict[str, Person], assets: dict[str, int]
) -> None:
    """A city viewer gets the state and never the householder's name or phone."""
    viewer = people["viewer"].headers
    feature = client.get("/ogc/collections/houses/items", headers=viewer).json()["features"][0]
    props = feature["properties"]
    assert props["stage"] == "not_started" and props["stage_zh"] == "未开工"
    assert props["county_zh"] == "卫辉市"
    assert feature["geometry"] == {"type": "Point", "coordinates": [114.07, 35.4]}
    assert not set(personal_columns()) & set(props)
    assert "李某" not in client.get("/ogc/collections/houses/items", headers=viewer).text


def test_personal_fields_follow_the_role_and_county(
    client: TestClient, people: dict[str, Person], assets: dict[str, int]
) -> None:
    def names(person: str, **params) -> set:
        page = client.get(
            "/ogc/collections/houses/items", params=params, headers=people[person].headers
        ).json()
        return {f["properties"].get("householder_name") for f in page["features"]}

    assert names("admin") == {"李某"}
    assert names("manager_weihui") == {"李某"}  # only 卫辉's houses, and their householders
    assert names("inspector_weihui") == {None}
    assert names("viewer") == {None}
    assert names("manager_hongqi") == set()  # sees no house outside 红旗区


def test_county_scope_limits_the_items(
    client: TestClient, people: dict[str, Person], assets: dict[str, int]
) -> None:
    inspector = people["inspector_weihui"].headers
    page = client.get("/ogc/collections/houses/items", headers=inspector).json()
    assert page["numberMatched"] == 2
    assert {f["properties"]["county_adcode"] for f in page["features"]} == {"410781"}
    other = client.get(
        "/ogc/collections/houses/items", params={"county": "410782"}, headers=inspector
    )
    assert other.status_code == 403 and other.json()["field"] == "county_adcode"
    huixian = assets["huixian"]
    assert (
        client.get(f"/ogc/collections/houses/items/{huixian}", headers=inspector).status_code == 403
    )


def test_paging_with_links(admin_client: TestClient, assets: dict[str, int]) -> None:
    first = admin_client.get("/ogc/collections/houses/items", params={"limit": 2}).json()
    assert first["numberMatched"] == 3 and first["numberReturned"] == 2
    links = {link["rel"]: link["href"] for link in first["links"]}
    assert "prev" not in links
    second = admin_client.get(links["next"]).json()
    assert second["numberReturned"] == 1
    rels = {link["rel"] for link in second["links"]}
    assert "prev" in rels and "next" not in rels
    seen = [f["id"] for f in first["features"] + second["features"]]
    assert sorted(seen) == sorted([assets["weihui_1"], assets["weihui_2"], assets["huixian"]])


def test_next_link_keeps_the_county_filter(
    admin_client: TestClient, assets: dict[str, int]
) -> None:
    page = admin_client.get("/ogc/collections/houses/items?county=410781&limit=1").json()
    next_href = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert "county=410781" in next_href
    assert (
        admin_client.get(next_href).json()["features"][0]["properties"]["county_adcode"] == "410781"
    )


def test_single_items(admin_client: TestClient, assets: dict[str, int]) -> None:
    road = admin_client.get(f"/ogc/collections/roads/items/{assets['road']}")
    assert road.status_code == 200 and road.json()["id"] == assets["road"]
    assert admin_client.get(f"/ogc/collections/houses/items/{assets['road']}").status_code == 404
    assert admin_client.get("/ogc/collections/counties/items/410782").json()["id"] == "410782"
    assert admin_client.get("/ogc/collections/counties/items/999999").status_code == 404


@pytest.mark.parametrize(
    ("url", "status", "field", "words"),
    [
        ("/ogc/collections/houses/items?county=410799", 422, "county", "410781 卫辉市"),
        ("/ogc/collections/houses/items?county=weihui", 400, "county", "6 位县区代码"),
        ("/ogc/collections/houses/items?limit=0", 400, "limit", "1 到 10000 之间的整数"),
        ("/ogc/collections/houses/items?limit=20000", 400, "limit", "1 到 10000 之间的整数"),
        ("/ogc/collections/houses/items?offset=-1", 400, "offset", "0 到 1000000000"),
        ("/ogc/collections/houses/items?kind=bridge", 400, "kind", "general_repair"),
        ("/ogc/collections/houses/items?stage=done", 400, "stage", "started"),
        ("/ogc/collections/houses/items?status=late", 400, "status", "overdue"),
        ("/ogc/collections/houses/items?batch=1", 400, "batch", "可用的参数"),
        ("/ogc/collections/roads/items?batch=3", 400, "batch", "1 到 2"),
        ("/ogc/collections/houses/items?crs=EPSG:3857", 400, "crs", "4490"),
        ("/ogc/collections/houses/items?f=xml", 400, "f", "html"),
        ("/ogc/collections/bridges/items", 404, "collection_id", "houses"),
        ("/ogc/collections/houses/items/abc", 404, "feature_id", "数字"),
    ],
)
def test_bad_requests_say_what_to_fix(
    admin_client: TestClient, url: str, status: int, field: str, words: str
) -> None:
    response = admin_client.get(url)
    assert response.status_code == status
    body = response.json()
    assert body["field"] == field
    assert words in body["message"]
    assert body["message_en"]


def test_landing_conformance_collections(admin_client: TestClient) -> None:
    landing = admin_client.get("/ogc").json()
    assert {"self", "conformance", "data", "service-desc"} <= {x["rel"] for x in landing["links"]}
    conformance = admin_client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    collections = admin_client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in collections] == ["counties", "houses", "water_works", "roads"]
    bbox = collections[0]["extent"]["spatial"]["bbox"][0]
    assert bbox == pytest.approx([113.377, 34.879, 115.011, 35.837], abs=0.002)
