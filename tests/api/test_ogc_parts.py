"""OGC API Features beyond paging: datetime, property filters, CRS (Part 2), queryables and
CQL2 text (Part 3), HTML pages, numberMatched without a full count, compression."""

import datetime as dt
import re
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from gis.queries import features
from tests.samples import IN_HUIXIAN, WEIHUI_HOUSE

ITEMS = "/ogc/collections/houses/items"
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture
def houses(session: Session) -> dict[str, int]:
    """Three houses: 卫辉 started (observed 2022-03-01), 卫辉 not started (never observed),
    辉县 completed (observed 2022-05-31 23:30 China time)."""
    made = {
        "started": WEIHUI_HOUSE,
        "idle": replace(WEIHUI_HOUSE, code="FW-410781-90002", geometry=Point(114.08, 35.41)),
        "done": replace(
            WEIHUI_HOUSE,
            code="FW-410782-90001",
            county_adcode="410782",
            geometry=IN_HUIXIAN,
            kind="self_rebuild",
        ),
    }
    ids = {key: create_asset(session, asset_in=a) for key, a in made.items()}
    for key, stage, percent, at in (
        ("started", "started", 40, "2022-03-01T10:00:00+08:00"),
        ("done", "completed", 100, "2022-05-31T23:30:00+08:00"),
    ):
        session.execute(
            text(
                "UPDATE assets SET stage = :stage, percent = :percent, stage_observed_at = :at "
                "WHERE id = :id"
            ),
            {
                "stage": stage,
                "percent": percent,
                "at": dt.datetime.fromisoformat(at),
                "id": ids[key],
            },
        )
    return ids


def _ids(client: TestClient, **params) -> set[int]:
    response = client.get(ITEMS, params=params)
    assert response.status_code == 200, response.text
    return {f["id"] for f in response.json()["features"]}


def test_datetime_instants_and_intervals(admin_client: TestClient, houses: dict[str, int]) -> None:
    started, done = houses["started"], houses["done"]
    assert _ids(admin_client, datetime="2022-03-01T02:00:00Z") == {started}
    assert _ids(admin_client, datetime="2022-03-01") == {started}  # the day, China time
    assert _ids(admin_client, datetime="2022-05-31") == {done}  # 23:30 in China is that day
    assert _ids(admin_client, datetime="2022-01-01/2022-04-01") == {started}
    assert _ids(admin_client, datetime="2022-04-01/..") == {done}
    assert _ids(admin_client, datetime="../2022-03-01") == {started}
    assert _ids(admin_client, datetime="2021-07-17/..") == {started, done}  # never observed: out


@pytest.mark.parametrize(
    "value", ["2022-13-01", "2022-03-01T10:00:00", "../..", "2022-05-01/2022-01-01", "yesterday"]
)
def test_bad_datetime_is_a_400(admin_client: TestClient, value: str) -> None:
    response = admin_client.get(ITEMS, params={"datetime": value})
    assert response.status_code == 400 and response.json()["field"] == "datetime"


def test_property_filters(admin_client: TestClient, houses: dict[str, int]) -> None:
    assert _ids(admin_client, stage="started") == {houses["started"]}
    assert _ids(admin_client, kind="self_rebuild") == {houses["done"]}
    assert _ids(admin_client, county="410782", stage="completed") == {houses["done"]}
    everything = _ids(admin_client)
    by_status = [_ids(admin_client, status=s) for s in ("done", "pending", "overdue", "none")]
    assert set().union(*by_status) == everything  # every house has exactly one status
    assert sum(len(s) for s in by_status) == len(everything)


def test_cql2_text_filters(admin_client: TestClient, houses: dict[str, int]) -> None:
    assert _ids(admin_client, filter="stage='started' AND county_adcode='410781'") == {
        houses["started"]
    }
    assert _ids(admin_client, filter="stage='completed' OR percent >= 40") == {
        houses["started"],
        houses["done"],
    }
    assert _ids(admin_client, filter="NOT stage_observed_at IS NULL AND percent < 100") == {
        houses["started"]
    }
    assert _ids(admin_client, filter="stage IN ('started', 'completed')") == {
        houses["started"],
        houses["done"],
    }
    assert _ids(admin_client, filter="stage_observed_at > TIMESTAMP('2022-04-01T00:00:00Z')") == {
        houses["done"]
    }
    assert _ids(admin_client, filter="'410782' = county_adcode") == {houses["done"]}


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("householder_name = '张某'", "不可查询"),  # personal fields are never queryable
        ("stage = ", "CQL2"),
        ("percent = 'forty'", "number"),
        ("stage LIKE 'st%'", "like"),
        ("S_INTERSECTS(geom, POINT(1 2))", "s_intersects"),
        ("stage = county_adcode", "value"),
        ("stage = 'x'; DROP TABLE assets", "CQL2"),
    ],
)
def test_cql2_outside_the_allow_list_is_a_400(
    admin_client: TestClient, expression: str, words: str
) -> None:
    response = admin_client.get(ITEMS, params={"filter": expression})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["field"] == "filter"
    assert words in body["message"] + body["message_en"]


def test_queryables_list_the_filterable_columns(admin_client: TestClient) -> None:
    response = admin_client.get("/ogc/collections/houses/queryables")
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["properties"]["stage_observed_at"] == {
        "title": "最近核查时间 last observed",
        "type": "string",
        "format": "date-time",
    }
    assert "householder_name" not in schema["properties"]
    assert set(schema["properties"]) == set(features.ASSET_QUERYABLES)


def test_features_in_cgcs2000_are_latitude_first(
    admin_client: TestClient, houses: dict[str, int]
) -> None:
    url = f"{ITEMS}/{houses['started']}"
    plain = admin_client.get(url)
    assert plain.headers["content-crs"] == f"<{CRS84}>"
    assert plain.json()["geometry"]["coordinates"] == [114.07, 35.4]
    cgcs = admin_client.get(url, params={"crs": EPSG_4490})
    assert cgcs.headers["content-crs"] == f"<{EPSG_4490}>"
    assert cgcs.json()["geometry"]["coordinates"] == [35.4, 114.07]
    page = admin_client.get(
        ITEMS, params={"crs": EPSG_4490, "bbox": "35.3,114.0,35.5,114.2", "bbox-crs": EPSG_4490}
    )
    assert page.headers["content-crs"] == f"<{EPSG_4490}>"
    coordinates = {tuple(f["geometry"]["coordinates"]) for f in page.json()["features"]}
    assert coordinates == {(35.4, 114.07), (35.41, 114.08)}


def test_collections_describe_crs_and_extents(admin_client: TestClient) -> None:
    houses = admin_client.get("/ogc/collections/houses").json()
    assert houses["storageCrs"] == CRS84
    assert EPSG_4490 in houses["crs"] and CRS84 in houses["crs"]
    assert houses["extent"]["temporal"]["interval"][0][0].startswith("2021-07-17")
    rels = {link["rel"] for link in houses["links"]}
    assert {"self", "alternate", "items", "http://www.opengis.net/def/rel/ogc/1.0/queryables"} <= (
        rels
    )
    conformance = admin_client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in conformance


def test_number_matched_is_counted_only_on_first_pages(
    admin_client: TestClient, houses: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = admin_client.get(ITEMS, params={"limit": 1}).json()
    assert first["numberMatched"] == 3
    middle = admin_client.get(ITEMS, params={"limit": 1, "offset": 1}).json()
    assert "numberMatched" not in middle  # not counted past the first page
    assert {link["rel"] for link in middle["links"]} >= {"next", "prev"}
    last = admin_client.get(ITEMS, params={"limit": 2, "offset": 2}).json()
    assert last["numberMatched"] == 3  # a short last page knows it for free
    monkeypatch.setattr(features, "COUNT_CAP", 2)
    capped = admin_client.get(ITEMS, params={"limit": 1}).json()
    assert "numberMatched" not in capped  # more than the cap: left out, next links lead on
    assert "next" in {link["rel"] for link in capped["links"]}


def test_html_pages_a_person_can_browse(admin_client: TestClient, houses: dict[str, int]) -> None:
    for url in (
        "/ogc?f=html",
        "/ogc/collections?f=html",
        "/ogc/collections/houses?f=html",
        "/ogc/collections/houses/queryables?f=html",
        f"{ITEMS}?f=html&limit=1",
        f"{ITEMS}/{houses['started']}?f=html",
        "/ogc/conformance?f=html",
    ):
        page = admin_client.get(url)
        assert page.status_code == 200, url
        assert page.headers["content-type"].startswith("text/html")
        assert not re.search(r"""(src|href)=["'](https?:)?//(?!testserver)""", page.text), url
    listing = admin_client.get(ITEMS, params={"f": "html", "limit": 1}).text
    assert "下一页" in listing and "FW-410781-90001" in listing
    browser = admin_client.get("/ogc", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.headers["content-type"].startswith("text/html")


def test_gzip_when_asked(admin_client: TestClient, houses: dict[str, int]) -> None:
    asked = admin_client.get(ITEMS, headers={"Accept-Encoding": "gzip"})
    assert asked.headers["content-encoding"] == "gzip"
    assert asked.json()["numberReturned"] == 3  # decoded by the client
    raw = admin_client.get(ITEMS, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert int(asked.headers["content-length"]) < len(raw.content) / 3
