"""The read API as a GIS client or a probe meets it: every defect of issue 8 has a test here.

Bad input is a 4xx in the project's error shape (never a 5xx); unknown or repeated query
parameters are refused; ids and numbers are ASCII digits with bounds; HEAD answers as GET;
ETags compare weakly; links never carry a Host the app does not trust; no dotfiles are served.
"""

import json
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy.orm import Session

from api.main import create_app
from gis.assets import create_asset
from gis.settings import Settings
from tests.samples import IN_HUIXIAN, WEIHUI_HOUSE

ERROR_KEYS = {"error", "message", "message_en", "field"}
ITEMS = "/ogc/collections/houses/items"


@pytest.fixture
def houses(session: Session) -> dict[str, int]:
    """Two houses in 卫辉市 and one in 辉县市."""
    made = {
        "weihui_1": WEIHUI_HOUSE,
        "weihui_2": replace(WEIHUI_HOUSE, code="FW-410781-90002", geometry=Point(114.08, 35.41)),
        "huixian": replace(
            WEIHUI_HOUSE, code="FW-410782-90001", county_adcode="410782", geometry=IN_HUIXIAN
        ),
    }
    return {key: create_asset(session, asset_in=a) for key, a in made.items()}


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.keys() >= ERROR_KEYS, body
    assert body["message"] and body["message_en"]
    return body


def test_bbox_filters_the_items(admin_client: TestClient, houses: dict[str, int]) -> None:
    far = admin_client.get(ITEMS, params={"bbox": "0,0,1,1"}).json()
    assert far["features"] == [] and far["numberMatched"] == 0
    weihui = admin_client.get(ITEMS, params={"bbox": "114.0,35.3,114.2,35.5"}).json()
    assert {f["id"] for f in weihui["features"]} == {houses["weihui_1"], houses["weihui_2"]}
    with_z = admin_client.get(ITEMS, params={"bbox": "114.0,35.3,-10,114.2,35.5,10"}).json()
    assert len(with_z["features"]) == 2


@pytest.mark.parametrize(
    "bbox",
    [
        "1,2,3",
        "1,2,3,4,5",
        "a,b,c,d",
        "114,35,113,36",  # minx > maxx
        "114,36,115,35",  # miny > maxy
        "-181,0,0,1",
        "0,-91,1,0",
        "nan,0,1,1",
        "inf,0,1,1",
        "1,,2,3",
        "114,35,0,115,36",
    ],
)
def test_bad_bbox_is_a_400_that_says_so(admin_client: TestClient, bbox: str) -> None:
    body = _error(admin_client.get(ITEMS, params={"bbox": bbox}), 400)
    assert body["field"] == "bbox"
    assert "bbox" in body["message"]


def test_unknown_parameters_are_named_with_the_allowed_ones(admin_client: TestClient) -> None:
    body = _error(admin_client.get(ITEMS, params={"countyy": "410781"}), 400)
    assert body["field"] == "countyy"
    assert "countyy" in body["message"] and "county" in body["message_en"]
    assert "bbox" in body["message_en"]  # the allowed ones are listed


def test_a_parameter_given_twice_is_refused(admin_client: TestClient) -> None:
    body = _error(admin_client.get(f"{ITEMS}?county=410781&county=410782"), 400)
    assert body["field"] == "county"
    body = _error(admin_client.get("/assets?q=FW&q=SL"), 400)
    assert body["field"] == "q"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        (f"{ITEMS}?offset=9223372036854775808", 400),
        (f"{ITEMS}?offset=99999999999999999999999", 400),
        (f"{ITEMS}?limit=²", 400),
        (f"{ITEMS}?limit=١٠", 400),  # Arabic-Indic digits
        (f"{ITEMS}?offset=%00", 400),
        (f"{ITEMS}?limit=+5", 400),
        (f"{ITEMS}?limit=", 400),
        (f"{ITEMS}?county=４１０７８１", 400),  # full-width digits
        (f"{ITEMS}?county=%D9%A4%D9%A1%D9%A0%D9%A7%D9%A8%D9%A1", 400),
        ("/ogc/collections/houses/items/²", 404),
        ("/ogc/collections/houses/items/%00", 404),
        ("/ogc/collections/houses/items/9223372036854775808", 404),
        ("/ogc/collections/houses/items/-1", 404),
        ("/ogc/collections/counties/items/%00", 404),
        ("/ogc/collections/counties/items/４１０７８１", 404),
        ("/assets/9223372036854775808", 404),
        ("/assets/²", 404),
        ("/assets/%00", 404),
    ],
)
def test_numbers_and_ids_are_ascii_digits_with_bounds(
    admin_client: TestClient, url: str, status: int
) -> None:
    _error(admin_client.get(url), status)


def test_non_numeric_ids_answer_alike(admin_client: TestClient) -> None:
    ogc = _error(admin_client.get("/ogc/collections/houses/items/abc"), 404)
    asset = _error(admin_client.get("/assets/abc"), 404)
    assert ogc["error"] == asset["error"] == "not_found"


def test_validation_messages_quote_no_regex(admin_client: TestClient) -> None:
    response = admin_client.get("/assets", params={"q": "FW", "layer": "bridges"})
    body = _error(response, 422)
    assert "^" not in body["message"] and "^" not in body["message_en"]
    assert "houses" in body["message"]


@pytest.mark.parametrize(
    "url",
    ["/healthz", "/ogc", "/ogc/collections", ITEMS, "/ogc/collections/houses/queryables"],
)
def test_head_answers_like_get_without_a_body(admin_client: TestClient, url: str) -> None:
    get = admin_client.get(url)
    head = admin_client.head(url)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_on_an_asset_and_a_static_file(
    admin_client: TestClient, houses: dict[str, int]
) -> None:
    assert admin_client.head(f"/assets/{houses['weihui_1']}").status_code == 200
    assert admin_client.head("/static/inspect/app.js").status_code == 200
    assert admin_client.head("/sync").status_code == 405


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ('"{v}"', 304),
        ('W/"{v}"', 304),
        ("*", 304),
        ('"0", W/"{v}"', 304),
        ('"0",W/"{v}" ', 304),
        ('"0"', 200),
        ('W/"0"', 200),
        ("{v}", 200),  # not a quoted tag
    ],
)
def test_if_none_match_compares_weakly(
    admin_client: TestClient, houses: dict[str, int], header: str, status: int
) -> None:
    url = f"/assets/{houses['weihui_1']}"
    version = admin_client.get(url).headers["etag"].strip('"')
    response = admin_client.get(url, headers={"If-None-Match": header.format(v=version)})
    assert response.status_code == status
    assert response.headers["etag"] == f'"{version}"'


def test_ogc_item_has_an_etag_too(admin_client: TestClient, houses: dict[str, int]) -> None:
    url = f"/ogc/collections/houses/items/{houses['weihui_1']}"
    tag = admin_client.get(url).headers["etag"]
    assert admin_client.get(url, headers={"If-None-Match": f"W/{tag}"}).status_code == 304


def test_a_forged_host_is_refused(admin_client: TestClient) -> None:
    body = _error(admin_client.get(ITEMS, headers={"Host": "evil.example"}), 400)
    assert body["field"] == "Host"
    assert "evil.example" not in admin_client.get(ITEMS).text


def test_links_use_the_configured_public_url(
    app_settings: Settings, session: Session, people, houses: dict[str, int]
) -> None:
    from api.deps import get_session

    settings = app_settings.model_copy(update={"public_url": "https://rebuild.example.cn/gis"})
    app = create_app(settings)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app, base_url="https://rebuild.example.cn") as client:
        client.headers.update(people["admin"].headers)
        page = client.get(ITEMS, params={"limit": 1}).json()
        hrefs = [link["href"] for link in page["links"]]
        assert all(h.startswith("https://rebuild.example.cn/gis/ogc/") for h in hrefs), hrefs
        landing = client.get("/ogc").json()
        assert all(
            link["href"].startswith("https://rebuild.example.cn/gis/") for link in landing["links"]
        )


@pytest.mark.parametrize(
    "url",
    [
        "/vendor/.package-lock.json",
        "/vendor/.installed",
        "/vendor/leaflet/.npmignore",
        "/static/.hidden",
        "/vendor/leaflet/",
        "/vendor/leaflet",
        "/static/inspect/",
        "/vendor/%2e%2e/package.json",
    ],
)
def test_no_dotfiles_or_listings_under_static_paths(client: TestClient, url: str) -> None:
    _error(client.get(url), 404)


def test_the_web_app_starts_nothing(settings: Settings, tmp_path, monkeypatch) -> None:
    """Building and starting the app (its lifespan) never provisions the local cluster."""
    from gis import localdb

    def refuse(*args, **kwargs):
        raise AssertionError("the web app tried to start the local database")

    monkeypatch.setattr(localdb, "up", refuse)
    monkeypatch.setattr(localdb, "ensure_binaries", refuse)
    app = create_app(settings.model_copy(update={"database_url": None, "home": tmp_path}))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 503


def test_database_errors_show_no_values(engine, caplog) -> None:
    """The engine hides bound values; the error handler logs what failed without the
    database's message (which may quote a row) and answers without it."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from starlette.requests import Request

    from api.errors import _database_error

    with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
        conn.execute(text("SELECT CAST(:x AS integer)"), {"x": "张某的电话"})
    assert "parameters hidden" in str(caught.value)
    request = Request({"type": "http", "method": "GET", "path": "/x", "headers": []})
    response = asyncio.run(_database_error(request, caught.value))
    assert response.status_code == 500
    assert "张某" not in response.body.decode() and "张某" not in caplog.text


def test_a_deadlock_is_a_409_to_send_again(engine) -> None:
    """Two transactions waiting for each other: PostgreSQL rolls one back (SQLSTATE 40P01). Its
    request gets a 409 in the error shape saying nothing was kept and to send it again, not the
    503 of a lost database nor a 500."""
    import asyncio
    import threading

    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from starlette.requests import Request

    from api.errors import _database_error

    lock = text("SELECT pg_advisory_xact_lock(:k)")
    errors: list[Exception] = []
    first_holds, second_holds = threading.Event(), threading.Event()

    def one(first: int, second: int, mine: threading.Event, theirs: threading.Event) -> None:
        with engine.connect() as conn, conn.begin():
            conn.execute(lock, {"k": 900_000 + first})
            mine.set()
            theirs.wait(10)
            try:
                conn.execute(lock, {"k": 900_000 + second})
            except DBAPIError as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=one, args=(1, 2, first_holds, second_holds)),
        threading.Thread(target=one, args=(2, 1, second_holds, first_holds)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(errors) == 1, errors
    assert errors[0].orig.sqlstate == "40P01"
    request = Request({"type": "http", "method": "POST", "path": "/x", "headers": []})
    response = asyncio.run(_database_error(request, errors[0]))
    assert response.status_code == 409
    body = json.loads(response.body)
    assert body["error"] == "conflict" and "nothing of this one was saved" in body["message_en"]
    assert "重新提交" in body["message"]
