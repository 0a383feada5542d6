"""The same page of houses from our OGC API and from tipg, on the same database.

Ours: ``/ogc/collections/houses/items?limit=1000`` with a city viewer's bearer token (public
fields only). tipg: ``/collections/public.assets/items?limit=1000&layer=houses`` with the same
columns of the assets table (``properties=``); tipg has no login and no joined names. Both are
asked without compression (bench/client.py), and the two are measured alternately so that
other load on the machine hits both alike.

``measure_bbox_pages`` does the same for full 1,000-feature pages of random boxes (``boxes``
picks them from a database: each holds at least 1,000 houses), one at a time and with
concurrent clients, without and with gzip. ``measure_county_pages`` times pages of 100 houses
filtered by county, the filter a county office sets on its QGIS layer, first and deep.
"""

import asyncio
import gzip
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from sqlalchemy import Engine, text

from bench import client, stats

LIMIT = 1000
# The public properties of our feature that are columns of `assets` (ours adds kind_zh,
# county_zh and stage_zh from joined tables).
COLUMNS = (
    "code,layer,kind,batch,county_adcode,town,village,name,households,planned_investment_wan,"
    "funds_secured_wan,poverty_alleviated_area,worst_hit_area,stage,percent,stage_observed_at,"
    "version,updated_at"
)


def ours_url(base: str) -> str:
    return f"{base}/ogc/collections/houses/items?limit={LIMIT}"


def tipg_url(base: str) -> str:
    return f"{base}/collections/public.assets/items?limit={LIMIT}&layer=houses&properties={COLUMNS}"


IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> bytes:
    async with http.get(url, headers=headers) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
        return body


async def _fetch(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> bytes:
    """The body as it crossed the wire (the bench's client never decompresses: bench/client.py),
    decompressed only where it is checked, outside the timings."""
    async with http.get(url, headers=headers) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
        if response.headers.get("Content-Encoding") not in (None, headers["Accept-Encoding"]):
            raise RuntimeError(f"GET {url}: {response.headers['Content-Encoding']} not asked for")
        return body


def describe_page(body: bytes) -> dict[str, Any]:
    page = json.loads(body)
    first = page["features"][0]
    return {
        "bytes": len(body),
        "features": len(page["features"]),
        "number_matched": page.get("numberMatched"),
        "properties_per_feature": len(first["properties"]),
        "first_id": first["id"],
        "last_id": page["features"][-1]["id"],
    }


async def sequential(
    http: aiohttp.ClientSession,
    targets: dict[str, tuple[str, dict[str, str]]],
    *,
    requests: int,
    warmup: int = 5,
) -> dict[str, Any]:
    """``requests`` timed GETs of each target, one at a time, alternating between targets."""
    pages = {}
    for name, (url, headers) in targets.items():
        pages[name] = describe_page(await _get(http, url, headers))
        for _ in range(warmup):
            await _get(http, url, headers)
    times: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(requests):
        for name, (url, headers) in targets.items():
            started = time.perf_counter()
            await _get(http, url, headers)
            times[name].append(time.perf_counter() - started)
    return {
        name: {"page": pages[name], "latency_ms": stats.summary(stats.ms(times[name]))}
        for name in targets
    }


async def concurrent(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], *, clients: int, seconds: float
) -> dict[str, Any]:
    """``clients`` clients fetching the page in a closed loop for ``seconds``: pages/s."""
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def one() -> None:
        while True:
            started = time.perf_counter()
            if started >= end:
                return
            await _get(http, url, headers)
            done = time.perf_counter()
            if done <= end:
                latencies.append(done - started)

    await asyncio.gather(*(one() for _ in range(clients)))
    return {
        "pages_per_s": len(latencies) / seconds,
        "latency_ms": stats.summary(stats.ms(latencies)),
    }


def targets(ours_base: str, token: str, tipg_base: str) -> dict[str, tuple[str, dict[str, str]]]:
    return {
        "ours": (ours_url(ours_base), client.bearer(token)),
        "tipg": (tipg_url(tipg_base), {}),
    }


# --- bbox pages --------------------------------------------------------------------------------

Box = tuple[float, float, float, float]  # west, south, east, north in CRS84 degrees


def boxes(engine: Engine, n: int = 50, *, least: int = LIMIT, seed: int = 8) -> list[Box]:
    """``n`` random boxes (CRS84) each holding at least ``least`` houses: squares around
    random houses, grown until they hold enough (by the same ST_Intersects the servers use)."""
    rng = random.Random(seed)
    count_sql = text(
        "SELECT count(*) FROM (SELECT 1 FROM assets WHERE layer = 'houses' AND "
        "ST_Intersects(ST_MakeEnvelope(:w, :s, :e, :n, 4326), geom) LIMIT :least) x"
    )
    found: list[Box] = []
    with engine.connect() as conn:
        low, high = conn.execute(
            text("SELECT min(id), max(id) FROM assets WHERE layer = 'houses'")
        ).one()
        if low is None:
            raise RuntimeError("the database holds no houses")
        while len(found) < n:
            centre = conn.execute(
                text(
                    "SELECT ST_X(geom), ST_Y(geom) FROM assets "
                    "WHERE layer = 'houses' AND id >= :id ORDER BY id LIMIT 1"
                ),
                {"id": rng.randint(low, high)},
            ).one()
            half = 0.005
            while half < 0.5:
                box = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
                params = dict(zip("wsen", box, strict=True)) | {"least": least}
                if conn.execute(count_sql, params).scalar_one() >= least:
                    found.append(tuple(round(v, 6) for v in box))  # type: ignore[arg-type]
                    break
                half *= 1.5
    return found


def bbox_urls(ours_base: str, tipg_base: str, box: Box) -> tuple[str, str]:
    bbox = ",".join(repr(v) for v in box)
    return f"{ours_url(ours_base)}&bbox={bbox}", f"{tipg_url(tipg_base)}&bbox={bbox}"


async def measure_bbox_pages(
    http: aiohttp.ClientSession,
    ours_base: str,
    ours_headers: dict[str, str],
    tipg_base: str,
    boxes: list[Box],
    runs: int,
    *,
    clients: int = 10,
    seconds: float = 10.0,
    cpu: Callable[[Awaitable[dict[str, Any]]], Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Full 1,000-feature pages of ``boxes``, ours and tipg alternately: ``runs`` passes over
    the boxes one request at a time (latency median, p95, min-max), then ``clients`` clients
    in a closed loop over the boxes for ``seconds`` (pages/s); once without compression and
    once with ``Accept-Encoding: gzip``. ``http`` needs ``clients`` connections or more.
    ``cpu`` wraps our closed loop to add the CPU each party used meanwhile."""
    pairs = [bbox_urls(ours_base, tipg_base, box) for box in boxes]
    out: dict[str, Any] = {"boxes": len(boxes), "runs": runs, "clients": clients}
    for encoding, extra in (("identity", IDENTITY), ("gzip", GZIP)):
        heads = {"ours": {**ours_headers, **extra}, "tipg": dict(extra)}
        times: dict[str, list[float]] = {"ours": [], "tipg": []}
        wire: dict[str, list[int]] = {"ours": [], "tipg": []}
        for ours, tipg in pairs[:3]:  # warm both, and check that the pages are full
            for name, url in (("ours", ours), ("tipg", tipg)):
                body = await _fetch(http, url, heads[name])
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                features = len(json.loads(body)["features"])
                if features != LIMIT:
                    raise RuntimeError(f"{name}: {features} features for {url}")
        for _ in range(runs):
            for ours, tipg in pairs:
                for name, url in (("ours", ours), ("tipg", tipg)):
                    started = time.perf_counter()
                    size = len(await _fetch(http, url, heads[name]))
                    times[name].append(time.perf_counter() - started)
                    wire[name].append(size)
        result: dict[str, Any] = {}
        for index, name in enumerate(("ours", "tipg")):
            urls = [pair[index] for pair in pairs]
            loop = _closed_loop(http, urls, heads[name], clients=clients, seconds=seconds)
            result[name] = {
                "latency_ms": stats.summary(stats.ms(times[name])),
                "bytes_median": stats.percentile(wire[name], 50),
                "concurrent": await (cpu(loop) if cpu is not None and name == "ours" else loop),
            }
        result["ratios"] = {
            "median_latency_tipg_over_ours": result["tipg"]["latency_ms"]["median"]
            / result["ours"]["latency_ms"]["median"],
            "pages_per_s_ours_over_tipg": result["ours"]["concurrent"]["pages_per_s"]
            / max(result["tipg"]["concurrent"]["pages_per_s"], 1e-9),
        }
        out[encoding] = result
    return out


async def _closed_loop(
    http: aiohttp.ClientSession,
    urls: list[str],
    headers: dict[str, str],
    *,
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    """``clients`` clients, each going round ``urls`` (from a different start) for ``seconds``."""
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def one(start: int) -> None:
        i = start
        while True:
            began = time.perf_counter()
            if began >= end:
                return
            await _fetch(http, urls[i % len(urls)], headers)
            i += 1
            done = time.perf_counter()
            if done <= end:
                latencies.append(done - began)

    await asyncio.gather(*(one(k * len(urls) // clients) for k in range(clients)))
    return {
        "pages_per_s": len(latencies) / seconds,
        "latency_ms": stats.summary(stats.ms(latencies)),
    }


# --- pages filtered by county ----------------------------------------------------------------

COUNTY_LIMIT = 100
DEEP_OFFSET = 10_000


def counties(engine: Engine) -> list[str]:
    """The adcodes of the counties, in order."""
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT adcode FROM counties ORDER BY adcode")).scalars())


def county_urls(ours_base: str, tipg_base: str, county: str, offset: int) -> tuple[str, str]:
    page = f"limit={COUNTY_LIMIT}&offset={offset}"
    return (
        f"{ours_base}/ogc/collections/houses/items?{page}&county={county}",
        f"{tipg_base}/collections/public.assets/items?{page}&layer=houses"
        f"&county_adcode={county}&properties={COLUMNS}",
    )


async def measure_county_pages(
    http: aiohttp.ClientSession,
    ours_base: str,
    ours_headers: dict[str, str],
    tipg_base: str,
    adcodes: list[str],
    runs: int,
) -> dict[str, Any]:
    """Pages of 100 houses of each county in ``adcodes``, the first and one at offset 10,000,
    ours and tipg alternately, one request at a time after one warm-up of each: ``runs``
    passes over the counties (latency median, p95, min-max per offset and server)."""
    out: dict[str, Any] = {
        "counties": len(adcodes), "runs": runs, "limit": COUNTY_LIMIT, "deep_offset": DEEP_OFFSET
    }  # fmt: skip
    heads = {"ours": {**ours_headers, **IDENTITY}, "tipg": dict(IDENTITY)}
    for offset in (0, DEEP_OFFSET):
        pairs = [county_urls(ours_base, tipg_base, c, offset) for c in adcodes]
        for ours, tipg in pairs:  # warm both, and check that the pages are full
            for name, url in (("ours", ours), ("tipg", tipg)):
                features = len(json.loads(await _fetch(http, url, heads[name]))["features"])
                if features != COUNTY_LIMIT:
                    raise RuntimeError(f"{name}: {features} features for {url}")
        times: dict[str, list[float]] = {"ours": [], "tipg": []}
        for _ in range(runs):
            for ours, tipg in pairs:
                for name, url in (("ours", ours), ("tipg", tipg)):
                    started = time.perf_counter()
                    await _fetch(http, url, heads[name])
                    times[name].append(time.perf_counter() - started)
        out[f"offset_{offset}"] = {
            name: stats.summary(stats.ms(values)) for name, values in times.items()
        }
    return out
