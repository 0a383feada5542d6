"""The path of `make run`, end to end: `rebuild serve --prepare` on an empty database."""

import stat
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pyogrio
import pytest

from tests.conftest import Databases, test_db_name
from tests.live import live_server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def served(databases: Databases, home: Path) -> Iterator[str]:
    with live_server(databases, test_db_name("_serve"), home=home, prepare=True) as base:
        yield base


@pytest.fixture(scope="module")
def demo_accounts(served: str, home: Path) -> dict[str, str]:
    """username -> password, from the file `make run` writes."""
    lines = (home / "demo-accounts.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0]: line.split("\t")[-1] for line in lines if not line.startswith("#")}


@pytest.fixture(scope="module")
def admin(served: str, demo_accounts: dict[str, str]) -> dict[str, str]:
    form = {"username": "demo-admin", "password": demo_accounts["demo-admin"]}
    token = httpx.post(f"{served}/auth/token", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_demo_accounts_are_private_and_random(
    served: str, home: Path, demo_accounts: dict[str, str]
) -> None:
    path = home / "demo-accounts.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(demo_accounts) == {"demo-admin", "demo-viewer", "demo-manager", "demo-inspector"}
    assert len(set(demo_accounts.values())) == 4 and all(
        len(p) >= 12 for p in demo_accounts.values()
    )
    for username, password in demo_accounts.items():
        form = {"username": username, "password": password}
        assert httpx.post(f"{served}/auth/token", data=form).status_code == 200, username


def test_closed_without_a_login(served: str) -> None:
    assert httpx.get(f"{served}/healthz").status_code == 200
    refused = httpx.get(f"{served}/ogc/collections/houses/items")
    assert refused.status_code == 401
    assert refused.json()["error"] == "not_authenticated"
    assert "Bearer" in refused.headers["www-authenticate"]


def test_serve_prepares_an_empty_database_and_serves_the_demo(
    served: str, admin: dict[str, str]
) -> None:
    health = httpx.get(f"{served}/healthz").json()
    assert health["status"] == "ok" and health["counties"] == 12
    counties = httpx.get(f"{served}/ogc/collections/counties/items", headers=admin).json()
    assert sorted(f["id"] for f in counties["features"])[:2] == ["410702", "410703"]
    assert counties["numberMatched"] == 12
    for layer in ("houses", "water_works", "roads"):
        url = f"{served}/ogc/collections/{layer}/items"
        everything = httpx.get(f"{url}?limit=1", headers=admin).json()
        weihui = httpx.get(f"{url}?county=410781", headers=admin).json()
        # numberMatched is left out above 10,000 (counted only that far): 30,000 houses
        assert 0 < weihui.get("numberMatched", 10_001) <= everything.get("numberMatched", 10_001)
        assert {f["properties"]["county_adcode"] for f in weihui["features"]} == {"410781"}


def test_gdal_opens_the_layers_over_ogc_api_with_basic_auth(
    served: str, admin: dict[str, str], demo_accounts: dict[str, str]
) -> None:
    """What QGIS and ogr2ogr do: list the collections and page through a layer, logged in."""
    pyogrio.set_gdal_config_options(
        {
            "GDAL_HTTP_AUTH": "BASIC",
            "GDAL_HTTP_USERPWD": f"demo-viewer:{demo_accounts['demo-viewer']}",
        }
    )
    try:
        layers = dict(pyogrio.list_layers(f"OAPIF:{served}/ogc"))
        assert set(layers) == {"counties", "houses", "water_works", "roads"}
        counties = pyogrio.read_dataframe(f"OAPIF:{served}/ogc", layer="counties")
        # storageCrs (OGC API Part 2) is CRS84: WGS 84 with longitude first, as GeoJSON
        assert len(counties) == 12 and counties.crs.to_string() == "OGC:CRS84"
        roads = pyogrio.read_dataframe(f"OAPIF:{served}/ogc", layer="roads")
    finally:
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_USERPWD": None})
    url = f"{served}/ogc/collections/roads/items?limit=1"
    assert len(roads) == httpx.get(url, headers=admin).json()["numberMatched"]
    assert set(roads.geom_type) <= {"LineString", "MultiLineString"}


def test_gdal_with_a_bearer_token(served: str, admin: dict[str, str]) -> None:
    """GDAL >= 3.9 sends a token with GDAL_HTTP_AUTH=BEARER (the OAPIF driver sets headers of
    its own, so GDAL_HTTP_HEADERS does not reach the server; GDAL_HTTP_HEADER_FILE does)."""
    token = admin["Authorization"].removeprefix("Bearer ")
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": token})
    try:
        counties = pyogrio.read_dataframe(f"OAPIF:{served}/ogc", layer="counties")
    finally:
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})
    assert len(counties) == 12


def test_serve_with_two_worker_processes(databases: Databases, tmp_path: Path) -> None:
    """`rebuild serve --workers 2`: each process builds the app from the environment."""
    from gis import users

    def seed(session) -> None:
        users.add_user(session, username="two-workers", password="password-22", role="viewer")

    name = test_db_name("_workers")
    with live_server(databases, name, home=tmp_path, seed=seed, args=("--workers", "2")) as base:
        form = {"username": "two-workers", "password": "password-22"}
        tokens = {
            httpx.post(f"{base}/auth/token", data=form).json()["access_token"] for _ in range(6)
        }
        for token in tokens:
            me = httpx.get(f"{base}/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200 and me.json()["role"] == "viewer"
    log = (tmp_path / f"{name}.log").read_text()
    assert log.count("Started server process") == 2
