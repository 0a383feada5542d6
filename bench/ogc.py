"""The same page of houses from our OGC API and from tipg, on the same database.

Ours: ``/ogc/collections/houses/items?limit=1000`` with a city viewer's bearer token (public
fields only). tipg: ``/collections/public.assets/items?limit=1000&layer=houses`` with the same
columns of the assets table (``properties=``); tipg has no login and no joined names. Both are
asked without compression, and the two are measured alternately so that other load on the
machine hits both alike.
"""

import asyncio
import json
import time
from typing import Any

import aiohttp

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


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> bytes:
    async with http.get(url, headers=headers) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
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
