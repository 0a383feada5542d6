"""A real GDAL client (pyogrio's bundled GDAL, OAPIF driver) against a live server: every
collection read fully, page by page, with counts equal to the database; a bbox; CGCS2000."""

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyogrio
import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import db, users
from gis.assets import create_asset
from tests.conftest import Databases, test_db_name
from tests.live import live_server
from tests.samples import WEIHUI_HOUSE

# Inside 卫辉市 (410781), away from its edges.
WEST, SOUTH, EAST, NORTH = 114.05, 35.42, 114.15, 35.48
BOX = (114.06, 35.43, 114.10, 35.46)


def _seed(tokens: dict[str, str]):
    def seed(session: Session) -> None:
        rng = random.Random(8)
        for n in range(230):
            at = Point(rng.uniform(WEST, EAST), rng.uniform(SOUTH, NORTH))
            code = f"FW-410781-{n + 1:05d}"
            create_asset(session, asset_in=replace(WEIHUI_HOUSE, code=code, geometry=at))
        for n in range(12):
            x, y = rng.uniform(WEST, EAST - 0.01), rng.uniform(SOUTH, NORTH - 0.01)
            line = LineString([(x, y), (x + 0.01, y + 0.005)])
            road = replace(
                WEIHUI_HOUSE, code=f"GL-410781-{n + 1:05d}", layer="roads", kind="county_road",
                batch=1 + n % 2, geometry=line, householder_name=None, householder_phone=None,
            )  # fmt: skip
            create_asset(session, asset_in=road)
            works = replace(
                road, code=f"SL-410781-{n + 1:05d}", layer="water_works", kind="levee", batch=None
            )
            create_asset(session, asset_in=works)
        user_id = users.add_user(
            session, username="gis-reader", password="gis-reader-pw", role="viewer", counties=()
        )
        tokens["viewer"], _ = users.issue_token(session, user_id=user_id, kind="bearer", hours=2)

    return seed


@pytest.fixture(scope="module")
def served(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tokens: dict[str, str] = {}
    name = test_db_name("_gdal")
    home: Path = tmp_path_factory.mktemp("gdal")
    with live_server(databases, name, home=home, seed=_seed(tokens)) as base:
        pyogrio.set_gdal_config_options(
            {"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": tokens["viewer"]}
        )
        try:
            yield {"base": base, "url": databases.url(name)}
        finally:
            pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})


def _count(url: str, sql: str, params: dict | None = None) -> int:
    with db.make_engine(url).connect() as conn:
        return conn.execute(text(sql), params or {}).scalar_one()


def test_every_collection_read_fully(served: dict) -> None:
    source = f"OAPIF:{served['base']}/ogc"
    assert set(dict(pyogrio.list_layers(source))) == {"counties", "houses", "water_works", "roads"}
    for layer in ("houses", "water_works", "roads"):
        frame = pyogrio.read_dataframe(source, layer=layer, PAGE_SIZE=50)  # several pages
        expected = _count(
            served["url"], "SELECT count(*) FROM assets WHERE layer = :l", {"l": layer}
        )
        assert len(frame) == expected, layer
        assert frame["code"].is_unique
        assert "householder_name" not in frame.columns  # a viewer: public fields only
    counties = pyogrio.read_dataframe(source, layer="counties")
    assert len(counties) == _count(served["url"], "SELECT count(*) FROM counties") == 12


def test_a_bbox_reaches_the_server(served: dict) -> None:
    frame = pyogrio.read_dataframe(f"OAPIF:{served['base']}/ogc", layer="houses", bbox=BOX)
    expected = _count(
        served["url"],
        "SELECT count(*) FROM assets WHERE layer = 'houses' AND "
        "ST_Intersects(ST_MakeEnvelope(:w, :s, :e, :n, 4326), geom)",
        dict(zip("wsen", BOX, strict=True)),
    )
    assert 0 < len(frame) == expected < 230


def test_features_in_cgcs2000(served: dict) -> None:
    source = f"OAPIF:{served['base']}/ogc"
    plain = pyogrio.read_dataframe(source, layer="houses").sort_values("code")
    cgcs = pyogrio.read_dataframe(source, layer="houses", CRS="EPSG:4490").sort_values("code")
    assert cgcs.crs.to_epsg() == 4490
    assert len(cgcs) == len(plain) == 230
    # GDAL reads the latitude-first answer into the same x (lon), y (lat) as CRS84.
    assert cgcs.geometry.x.round(7).tolist() == plain.geometry.x.round(7).tolist()
    assert cgcs.geometry.y.round(7).tolist() == plain.geometry.y.round(7).tolist()
    assert (cgcs.geometry.x > 113).all()
