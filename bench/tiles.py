"""Vector tiles (``/tiles/{layer}/{z}/{x}/{y}.pbf``) timed against a running server.

Each named tile is fetched ``runs`` times one at a time (after a warm-up) and decoded once:
its size and how many assets it represents (a cluster's ``n`` plus one per single feature),
which must equal the assets inside it. ``densest`` picks the tiles to ask for: the z14 and
z10 tiles holding the most houses of the database.
"""

import time
from typing import Any

import aiohttp
import mapbox_vector_tile
from sqlalchemy import Engine, text

from bench import stats

WARMUP = 3

# XYZ tile of each asset's representative point (Web Mercator), and the fullest per zoom.
_DENSEST = text(
    """
    WITH merc AS (
        SELECT ST_Transform(ST_PointOnSurface(geom), 3857) AS p
          FROM assets WHERE layer = :layer
    ), placed AS (
        SELECT z.z,
               floor((ST_X(p) + 20037508.342789244) / (40075016.68557849 / 2 ^ z.z))::int AS x,
               floor((20037508.342789244 - ST_Y(p)) / (40075016.68557849 / 2 ^ z.z))::int AS y
          FROM merc CROSS JOIN unnest(CAST(:zooms AS int[])) AS z(z)
    )
    SELECT DISTINCT ON (z) z, x, y, count(*) AS assets
      FROM placed
     GROUP BY z, x, y
     ORDER BY z, count(*) DESC, x, y
    """
)


def densest(
    engine: Engine, *, layer: str = "houses", zooms: tuple[int, ...] = (14, 10)
) -> dict[str, tuple[int, int, int]]:
    """The tile of each zoom that holds the most assets of ``layer``, named ``z14_densest``…"""
    with engine.connect() as conn:
        rows = conn.execute(_DENSEST, {"layer": layer, "zooms": list(zooms)}).all()
    return {f"z{row.z}_densest": (row.z, row.x, row.y) for row in rows}


def describe(body: bytes) -> dict[str, int]:
    """Size, features, clusters and assets represented of one tile's bytes."""
    found = [f for layer in mapbox_vector_tile.decode(body).values() for f in layer["features"]]
    clusters = [f for f in found if "n" in f["properties"]]
    return {
        "bytes": len(body),
        "features": len(found),
        "clusters": len(clusters),
        "assets": sum(f["properties"].get("n", 1) for f in found),
    }


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> bytes:
    async with http.get(url, headers=headers) as response:
        body = await response.read()
        if response.status not in (200, 204):
            raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
        return body


async def _timed(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], runs: int
) -> tuple[bytes, dict[str, float]]:
    """The body of ``url`` and its median, p95, min and max in ms over ``runs`` GETs made one
    at a time after a warm-up."""
    body = await _get(http, url, headers)
    for _ in range(WARMUP):
        await _get(http, url, headers)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await _get(http, url, headers)
        times.append(time.perf_counter() - started)
    summary = stats.summary(stats.ms(times))
    return body, {
        "median_ms": summary["median"],
        "p95_ms": summary["p95"],
        "min_ms": summary["min"],
        "max_ms": summary["max"],
    }


async def measure(
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    tiles: dict[str, tuple[int, int, int]],
    runs: int,
    *,
    layer: str = "houses",
    as_of: str | None = None,
) -> dict[str, Any]:
    """Per named tile (z, x, y): median, p95, min and max in ms over ``runs`` GETs, the size
    in bytes and the assets represented; as of today, or of the day ``as_of`` (YYYY-MM-DD,
    named ``name@as_of``)."""
    results = {}
    for name, (z, x, y) in tiles.items():
        url = f"{base}/tiles/{layer}/{z}/{x}/{y}.pbf" + (f"?as_of={as_of}" if as_of else "")
        body, timing = await _timed(http, url, headers, runs)
        key = f"{name}@{as_of}" if as_of else name
        results[key] = {"tile": [z, x, y], "as_of": as_of, **timing, **describe(body)}
    return results


async def measure_tipg(
    http: aiohttp.ClientSession,
    base: str,
    tiles: dict[str, tuple[int, int, int]],
    runs: int,
    *,
    layer: str = "houses",
) -> dict[str, Any]:
    """The same as ``measure`` for tipg 1.6 serving the ``assets`` table of the same database:
    its tile of ``public.assets`` in WebMercatorQuad filtered to the layer. tipg sends each
    asset as a feature, up to its limit (10,000 by default), and no counts: the assets
    represented are its features."""
    results = {}
    for name, (z, x, y) in tiles.items():
        url = f"{base}/collections/public.assets/tiles/WebMercatorQuad/{z}/{x}/{y}?layer={layer}"
        body, timing = await _timed(http, url, {}, runs)
        results[name] = {"tile": [z, x, y], **timing, **describe(body)}
    return results
