"""Vector tiles (/tiles/{layer}/{z}/{x}/{y}.pbf), decoded with mapbox-vector-tile, on the
hand-counted houses of tests/progress_samples.py (H1-H4 in 卫辉市, H5 in 辉县市)."""

import math
from dataclasses import replace

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from gis.tiles import CLUSTER_BELOW_ZOOM, EXTENT, LINES_CLUSTER_BELOW_ZOOM, MAX_ZOOM
from tests.api.conftest import WEIHUI, Person
from tests.progress_samples import event
from tests.samples import WEIHUI_HOUSE

MVT = "application/vnd.mapbox-vector-tile"
SINGLE_KEYS = {"id", "code", "kind", "stage", "percent", "status", "village", "county"}
CLUSTER_KEYS = {"n", "n_done", "n_pending", "n_overdue", "n_none", "status"}
H1, H2, H3, H4 = (114.07, 35.40), (114.08, 35.41), (114.09, 35.40), (114.07, 35.42)  # EPSG:4326


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile (z, x, y) of Web Mercator that holds the point."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def url(z: int, x: int, y: int, layer: str = "houses", query: str = "") -> str:
    return f"/tiles/{layer}/{z}/{x}/{y}.pbf" + (f"?{query}" if query else "")


def features(client: TestClient, address: str, headers: dict | None = None) -> list[dict]:
    """The features of the tile's one layer (none for an empty tile)."""
    response = client.get(address, headers=headers or {})
    assert response.status_code in (200, 204), response.text
    if response.status_code == 204:
        return []
    assert response.headers["content-type"] == MVT
    layers = mapbox_vector_tile.decode(response.content)
    assert set(layers) == {address.split("/")[2]}
    assert layers[address.split("/")[2]]["extent"] == EXTENT
    return layers[address.split("/")[2]]["features"]


def by_id(found: list[dict]) -> dict[int, dict]:
    return {f["properties"]["id"]: f["properties"] for f in found if "id" in f["properties"]}


def represented(found: list[dict]) -> int:
    return sum(f["properties"].get("n", 1) for f in found)


def assets_inside(session: Session, z: int, x: int, y: int, layer: str = "houses") -> int:
    """Assets inside the tile's envelope, counted without the tile code."""
    return session.execute(
        text(
            "SELECT count(*) FROM assets WHERE layer = :layer AND ST_Intersects(geom, "
            "ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326))"
        ),
        {"layer": layer, "z": z, "x": x, "y": y},
    ).scalar_one()


def test_single_assets_carry_the_contract(admin_client: TestClient, houses: dict[str, int]) -> None:
    found = features(admin_client, url(*tile_of(*H1, 16), query="as_of=2021-11-10"))
    h1 = by_id(found)[houses["H1"]]
    assert h1 == {
        "id": houses["H1"],
        "code": "FW-410781-60000",
        "kind": "general_repair",
        "stage": "completed",
        "percent": 100,
        "status": "done",
        "village": WEIHUI_HOUSE.village,
        "county": WEIHUI,
        "last_report": "2021-10-01",
    }  # done: no due date left, so none is sent
    feature = next(f for f in found if f["properties"].get("id") == houses["H1"])
    assert feature["id"] == houses["H1"] and feature["geometry"]["type"] == "Point"


def test_an_unreported_house_has_its_due_date_and_no_last_report(
    admin_client: TestClient, houses: dict[str, int]
) -> None:
    z, x, y = tile_of(*H4, CLUSTER_BELOW_ZOOM)
    h4 = by_id(features(admin_client, url(z, x, y, query="as_of=2021-11-10")))[houses["H4"]]
    assert set(h4) == SINGLE_KEYS | {"due_on"}
    assert (h4["stage"], h4["percent"], h4["status"], h4["due_on"]) == (
        "not_started",
        0,
        "overdue",
        "2021-10-31",
    )


@pytest.mark.parametrize("z", [4, 8, 10, 12, 14])
@pytest.mark.parametrize("day", ["", "as_of=2021-11-10"], ids=["today_cells", "past_live"])
def test_a_low_zoom_tile_accounts_for_every_asset_in_it(
    admin_client: TestClient, session: Session, houses: dict[str, int], z: int, day: str
) -> None:
    """Today's tiles are summed from tile_cells, an earlier day's read every asset."""
    # 40 more houses on a 400 m grid north-east of H1, so that cells hold several
    for i in range(40):
        where = Point(H1[0] + (i % 8) * 0.004, H1[1] + (i // 8) * 0.004)
        create_asset(
            session, asset_in=replace(WEIHUI_HOUSE, code=f"FW-410781-7{i:04d}", geometry=where)
        )
    tile = tile_of(*H1, z)
    found = features(admin_client, url(*tile, query=day))
    clusters = [f["properties"] for f in found if "n" in f["properties"]]
    assert clusters, "a low zoom groups the houses"
    for cluster in clusters:
        assert set(cluster) == CLUSTER_KEYS and cluster["n"] >= 2
        parts = [cluster[f"n_{s}"] for s in ("done", "pending", "overdue", "none")]
        assert sum(parts) == cluster["n"]
        worst = next(s for s in ("overdue", "pending", "none", "done") if cluster[f"n_{s}"])
        assert cluster["status"] == worst
    assert represented(found) == assets_inside(session, *tile)
    # ... and the tiles around it hold none of them twice
    z, x, y = tile
    neighbours = [(z, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    total = sum(represented(features(admin_client, url(*t, query=day))) for t in neighbours)
    assert total == sum(assets_inside(session, *t) for t in neighbours)


@pytest.mark.parametrize("day", ["", "as_of=2021-11-10"], ids=["today_cells", "past_live"])
def test_roads_are_counted_at_low_zoom_and_drawn_from_z12(
    admin_client: TestClient, session: Session, houses: dict[str, int], day: str
) -> None:
    """Below LINES_CLUSTER_BELOW_ZOOM a road is counted once, at a point on it, in one tile of
    the 3x3 around it; from there on it is drawn whole, as a line."""
    for i in range(20):
        start = (H1[0] + (i % 5) * 0.01, H1[1] + (i // 5) * 0.01)
        create_asset(
            session,
            asset_in=replace(
                WEIHUI_HOUSE,
                code=f"DL-410781-6{i:04d}",
                layer="roads",
                kind="village_road",
                batch=1,
                households=None,
                geometry=LineString([start, (start[0] + 0.008, start[1] + 0.003)]),
                householder_name=None,
                householder_phone=None,
            ),
        )
    for z in (8, 10, LINES_CLUSTER_BELOW_ZOOM - 1):
        z, x, y = tile_of(*H1, z)
        around = [(z, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        found = [f for t in around for f in features(admin_client, url(*t, "roads", day))]
        assert represented(found) == 20, z
        assert any("n" in f["properties"] for f in found), z
        drawn = [f for f in found if "n" not in f["properties"]]
        assert all(f["geometry"]["type"] == "LineString" for f in drawn)
    z, x, y = tile_of(*H1, LINES_CLUSTER_BELOW_ZOOM)
    whole = features(admin_client, url(z, x, y, "roads", day))
    assert whole and all("n" not in f["properties"] for f in whole)
    assert {f["geometry"]["type"] for f in whole} == {"LineString"}


def test_a_cell_of_one_is_that_asset_in_todays_tiles(
    admin_client: TestClient, houses: dict[str, int]
) -> None:
    """Today's z14 tile comes from tile_cells; the houses, 1-2 km apart, are alone in their
    cells and carry what their own z16 tiles (every asset read) say of them."""
    for name in ("H1", "H2", "H3", "H4"):
        where = {"H1": H1, "H2": H2, "H3": H3, "H4": H4}[name]
        low = by_id(features(admin_client, url(*tile_of(*where, 14))))
        high = by_id(features(admin_client, url(*tile_of(*where, CLUSTER_BELOW_ZOOM))))
        assert low[houses[name]] == high[houses[name]]
        assert set(low[houses[name]]) >= SINGLE_KEYS


def test_clusters_stop_at_the_threshold(admin_client: TestClient, houses: dict[str, int]) -> None:
    for z in (CLUSTER_BELOW_ZOOM, MAX_ZOOM):
        found = features(admin_client, url(*tile_of(*H1, z)))
        assert found and all("n" not in f["properties"] for f in found)


def test_the_tile_of_an_earlier_day_ignores_later_reports(
    admin_client: TestClient, session: Session, houses: dict[str, int]
) -> None:
    address = url(*tile_of(*H4, 16), query="as_of=2021-10-27")
    before = admin_client.get(address)
    h4 = by_id(features(admin_client, address))[houses["H4"]]
    assert (h4["stage"], h4["status"]) == ("not_started", "pending")  # due on the 31st
    event(session, houses["H4"], "completed", 100, "2021-10-30")
    assert admin_client.get(address).content == before.content
    later = by_id(features(admin_client, url(*tile_of(*H4, 16), query="as_of=2021-11-10")))
    assert (later[houses["H4"]]["stage"], later[houses["H4"]]["status"]) == ("completed", "done")
    h2 = by_id(features(admin_client, url(*tile_of(*H2, 16), query="as_of=2021-09-15")))
    assert (h2[houses["H2"]]["stage"], h2[houses["H2"]]["percent"]) == ("started", 40)


def test_a_county_reader_sees_only_its_counties(
    client: TestClient, people: dict[str, Person], houses: dict[str, int]
) -> None:
    wide = url(*tile_of(*H1, 7))  # holds 卫辉 and 辉县 houses alike
    assert represented(features(client, wide, people["viewer"].headers)) == 5
    weihui = features(client, wide, people["inspector_weihui"].headers)
    assert represented(weihui) == 4
    assert client.get(wide).status_code == 401  # reading tiles needs a login
    hongqi = client.get(wide, headers=people["inspector_hongqi"].headers)
    assert hongqi.status_code == 204 and hongqi.content == b""
    refused = client.get(wide + "?county=410782", headers=people["inspector_weihui"].headers)
    assert refused.status_code == 403 and refused.json()["field"] == "county_adcode"


def test_personal_fields_never_appear(admin_client: TestClient, houses: dict[str, int]) -> None:
    for z in (7, 16):
        body = admin_client.get(url(*tile_of(*H1, z))).content
        for value in (WEIHUI_HOUSE.householder_name, WEIHUI_HOUSE.householder_phone):
            assert value.encode() not in body
        assert b"householder" not in body


def test_filters(admin_client: TestClient, houses: dict[str, int]) -> None:
    def found(query: str) -> set[int]:
        """The 卫辉 houses in their z16 tiles (one each) that the filter keeps."""
        tiles = {tile_of(*where, 16) for where in (H1, H2, H3, H4)}
        return {i for t in tiles for i in by_id(features(admin_client, url(*t, query=query)))}

    assert found("as_of=2021-11-10") == {houses[h] for h in ("H1", "H2", "H3", "H4")}
    assert found("as_of=2021-11-10&status=overdue") == {houses["H3"], houses["H4"]}
    assert found("as_of=2021-09-15&stage=started") == {houses["H2"]}
    assert found("kind=self_rebuild") == set()
    assert len(found(f"kind=general_repair&county={WEIHUI}&status=done")) == 2


def test_caching_headers_and_not_modified(
    admin_client: TestClient, session: Session, houses: dict[str, int]
) -> None:
    address = url(*tile_of(*H3, 16), query="as_of=2021-11-10")
    first = admin_client.get(address)
    assert first.headers["cache-control"] == "private, max-age=60"
    tag = first.headers["etag"]
    again = admin_client.get(address, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    # compared weakly, as RFC 9110 asks of If-None-Match: W/"x" and * match too
    for header in (f"W/{tag}", "*", f'"other", {tag}'):
        assert admin_client.get(address, headers={"If-None-Match": header}).status_code == 304
    assert admin_client.get(address, headers={"If-None-Match": '"other"'}).status_code == 200
    event(session, houses["H3"], "completed", 100, "2021-11-01")
    changed = admin_client.get(address, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


@pytest.mark.parametrize(
    ("address", "status", "field", "words"),
    [
        ("/tiles/bridges/0/0/0.pbf", 404, "layer", "houses, water_works, roads"),
        (f"/tiles/houses/{MAX_ZOOM + 1}/0/0.pbf", 422, "z", f"0 to {MAX_ZOOM}"),
        ("/tiles/houses/-1/0/0.pbf", 422, "z", f"0 to {MAX_ZOOM}"),
        ("/tiles/houses/2/4/0.pbf", 422, "x", "0 to 3"),
        ("/tiles/houses/2/0/-1.pbf", 422, "y", "0 to 3"),
        ("/tiles/houses/a/0/0.pbf", 422, "z", ""),
        ("/tiles/houses/0/0/0.pbf?status=late", 422, "status", "done, pending, overdue, none"),
        ("/tiles/houses/0/0/0.pbf?kind=levee", 422, "kind", "general_repair"),
        ("/tiles/houses/0/0/0.pbf?stage=finished", 422, "stage", "not_started"),
        ("/tiles/houses/0/0/0.pbf?as_of=2021-02-30", 422, "as_of", ""),
        ("/tiles/houses/0/0/0.pbf?as_of=2021-07-01", 422, "as_of", ""),
        ("/tiles/houses/0/0/0.pbf?county=999999", 422, "county", "410781"),
    ],
)
def test_bad_requests_are_refused_in_the_projects_shape(
    admin_client: TestClient, address: str, status: int, field: str, words: str
) -> None:
    response = admin_client.get(address)
    assert response.status_code == status
    body = response.json()
    assert body.keys() >= {"error", "message", "message_en", "field"}
    assert body["field"] == field and words in body["message_en"]
