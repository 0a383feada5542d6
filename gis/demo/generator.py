"""The demo data set put together: volumes shared out over the counties, then each county's assets
and their histories, from random streams seeded per county. No database is touched."""

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from sqlalchemy import Engine

from gis import loaders
from gis.demo import assets
from gis.demo.data import DemoData, concat
from gis.demo.history import due_days, history
from gis.demo.places import county
from gis.settings import PROJECT_ROOT


def read_config(data_dir: Path) -> dict[str, Any]:
    """The demo's volumes, weights and timings (``demo.toml``)."""
    return tomllib.loads((data_dir / "demo.toml").read_text(encoding="utf-8"))


def read_counties(engine: Engine) -> gpd.GeoDataFrame:
    """The county boundaries from the database, in EPSG:4326 (lon/lat), by adcode."""
    sql = "SELECT adcode, name_zh, geom FROM counties ORDER BY adcode"
    return gpd.read_postgis(sql, engine, geom_col="geom")


def generate(
    counties: gpd.GeoDataFrame, *, scale: float, seed: int, data_dir: Path = PROJECT_ROOT / "data"
) -> DemoData:
    """The demo data set for ``counties`` (adcode, name_zh, lon/lat geometry); no database."""
    parts = list(generate_by_county(counties, scale=scale, seed=seed, data_dir=data_dir))
    return DemoData(concat([p.assets for p in parts]), concat([p.events for p in parts]))


def generate_by_county(
    counties: gpd.GeoDataFrame, *, scale: float, seed: int, data_dir: Path = PROJECT_ROOT / "data"
) -> Iterator[DemoData]:
    """``generate``'s data set in parts, a layer of a county each, ids running on. Each county
    draws from random streams of its own, so no part depends on when it is generated."""
    if counties.crs is not None and not counties.crs.is_geographic:
        raise ValueError(f"counties must be in lon/lat (EPSG:4326), got {counties.crs}")
    config = read_config(data_dir)
    milestones, rules = loaders.read_deadlines(data_dir / "deadlines.toml")
    rows = zip(counties["adcode"], counties["name_zh"], counties.geometry, strict=True)
    places = [
        county(adcode, name, geom, config, np.random.default_rng([seed, 0, i]))
        for i, (adcode, name, geom) in enumerate(rows)
    ]
    damage = [c.conf["damage"] for c in places]
    totals = {key: max(1, round(volume * scale)) for key, volume in config["volumes"].items()}
    volumes = {key: _apportion(total, damage) for key, total in totals.items()}
    first_id = 1
    for i, c in enumerate(places):
        rng = np.random.default_rng([seed, 1, i])
        n_houses, n_sites, n_works, n_roads = (
            volumes[key][i] for key in ("houses", "resettlement_sites", "water_works", "roads")
        )
        named = [
            assets.named_work(c, w, config, rng)
            for w in config["named_works"]
            if c.adcode in w["counties"]
        ]
        layers = [
            [assets.houses(c, n_houses, n_sites, config, rng)] if n_houses else [],
            named + ([assets.water_works(c, n_works, config, rng)] if n_works else []),
            [assets.roads(c, n_roads, config, rng)] if n_roads else [],
        ]
        for parts in filter(None, layers):
            columns = assets.identify(concat(parts), c.adcode, first_id)
            first_id += len(columns["id"])
            due = due_days(columns, milestones, rules, config["history"]["start"])
            yield DemoData(columns, history(columns, due, c.conf.get("slow", False), config, rng))


def _apportion(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders), summing exactly."""
    exact = total * np.asarray(weights, dtype=float) / sum(weights)
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: total - counts.sum()]] += 1
    return counts.tolist()
