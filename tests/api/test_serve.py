"""The path of `make run`, end to end: `rebuild serve --prepare` on an empty database."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pyogrio
import pytest

from tests.conftest import Databases, test_db_name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(databases: Databases) -> Iterator[str]:
    name = test_db_name("_serve")
    url = databases.create(name)
    port = _free_port()
    rebuild = Path(sys.executable).parent / "rebuild"
    server = subprocess.Popen(
        [rebuild, "serve", "--prepare", "--port", str(port)],
        env={**os.environ, "REBUILD_DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, f"server exited:\n{server.stdout.read()}"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("the server did not answer /healthz within 180 s")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        databases.drop(name)


def test_serve_prepares_an_empty_database_and_serves_the_demo(served: str) -> None:
    health = httpx.get(f"{served}/healthz").json()
    assert health["status"] == "ok" and health["counties"] == 12
    counties = httpx.get(f"{served}/ogc/collections/counties/items").json()
    assert sorted(f["id"] for f in counties["features"])[:2] == ["410702", "410703"]
    assert counties["numberMatched"] == 12
    for layer in ("houses", "water_works", "roads"):
        everything = httpx.get(f"{served}/ogc/collections/{layer}/items?limit=1").json()
        weihui = httpx.get(f"{served}/ogc/collections/{layer}/items?county=410781").json()
        assert 0 < weihui["numberMatched"] < everything["numberMatched"], layer
        assert {f["properties"]["county_adcode"] for f in weihui["features"]} == {"410781"}


def test_gdal_opens_the_layers_over_ogc_api(served: str) -> None:
    """What QGIS and ogr2ogr do: list the collections and page through a layer."""
    layers = dict(pyogrio.list_layers(f"OAPIF:{served}/ogc"))
    assert set(layers) == {"counties", "houses", "water_works", "roads"}
    counties = pyogrio.read_dataframe(f"OAPIF:{served}/ogc", layer="counties")
    assert len(counties) == 12 and counties.crs.to_epsg() == 4326
    roads = pyogrio.read_dataframe(f"OAPIF:{served}/ogc", layer="roads")
    matched = httpx.get(f"{served}/ogc/collections/roads/items?limit=1").json()["numberMatched"]
    assert len(roads) == matched
    assert set(roads.geom_type) <= {"LineString", "MultiLineString"}
