"""Field reports under load: POST /assets/{id}/reports with If-Match from many clients at once,
and POST /sync with a batch of reports made offline.

Every client owns its own assets, so no report waits on another client's lock and a 412 can
only mean a bug in the generator. A client learns each asset's version from GET /assets/{id}
(its ETag) once, then from the ETag of each 201.
"""

import asyncio
import datetime as dt
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench import client, stats
from bench.database import Asset

Body = Callable[[Asset], dict[str, Any]]


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def bare_body(asset: Asset) -> dict[str, Any]:
    """No photo, no position: the only reports data/evidence.toml lets through without them
    are of the stages before work starts. On a not-started asset this moves it to 前期完成;
    on one already there it re-confirms the stage with a later observation (applied, version+1)."""
    return {
        "id": str(uuid.uuid4()),
        "stage": "preparatory_done",
        "percent": 0,
        "observed_at": now(),
    }


def evidence_body(photo_id: str) -> Body:
    """A completed or accepted house reported accepted (已验收) with a site photo and the
    inspector's position a few metres away, as data/evidence.toml requires for that stage."""

    def body(asset: Asset) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "stage": "accepted",
            "percent": 100,
            "observed_at": now(),
            "photos": [photo_id],
            "location": {"lon": asset.lon + 0.00005, "lat": asset.lat, "accuracy_m": 8},
        }

    return body


@dataclass
class Workload:
    name: str
    description: str
    assets: list[list[Asset]]  # one list per client
    body: Body


async def learn_versions(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], assets: Sequence[Asset]
) -> dict[int, int]:
    """The current version of each asset, from the ETag of GET /assets/{id}."""
    versions = {}
    for asset in assets:
        async with http.get(f"{base}/assets/{asset.id}", headers=auth) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /assets/{asset.id}: {response.status}")
            versions[asset.id] = int(response.headers["ETag"].strip('"'))
    return versions


@dataclass
class _Tally:
    latencies: list[float]
    statuses: Counter
    errors: list[str]
    late: int = 0


async def report_once(
    http: aiohttp.ClientSession,
    base: str,
    auth: dict[str, str],
    asset: Asset,
    body: dict[str, Any],
    versions: dict[int, int],
) -> tuple[int, str]:
    """One report with If-Match; keeps ``versions`` current. Returns the status and, unless
    201, the start of the answer."""
    headers = {**auth, "If-Match": f'"{versions[asset.id]}"'}
    async with http.post(f"{base}/assets/{asset.id}/reports", json=body, headers=headers) as r:
        raw = await r.read()
        if r.status in (200, 201):
            versions[asset.id] = int(r.headers["ETag"].strip('"'))
        elif r.status == 412:
            current = json.loads(raw).get("current", {})
            versions[asset.id] = current.get("properties", {}).get("version", versions[asset.id])
        return r.status, "" if r.status == 201 else raw[:300].decode(errors="replace")


async def _client(
    http: aiohttp.ClientSession,
    base: str,
    auth: dict[str, str],
    assets: list[Asset],
    body: Body,
    versions: dict[int, int],
    tally: _Tally,
    start: float,
    end: float,
    interval: float | None,
    phase: float,
) -> None:
    sent = 0
    while True:
        if interval is None:
            scheduled = time.perf_counter()
        else:
            # Paced: the latency counts from when the report was due, so a server that falls
            # behind shows it in the latency instead of hiding it (no coordinated omission).
            scheduled = start + phase + sent * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        if scheduled >= end:
            return
        asset = assets[sent % len(assets)]
        sent += 1
        status, error = await report_once(http, base, auth, asset, body(asset), versions)
        done = time.perf_counter()
        if done > end:
            tally.late += 1
            return
        tally.latencies.append(done - scheduled)
        tally.statuses[status] += 1
        if error and len(tally.errors) < 5:
            tally.errors.append(f"{status} {error}")


async def run(
    http: aiohttp.ClientSession,
    base: str,
    tokens: list[str],
    workload: Workload,
    versions: dict[int, int],
    *,
    clients: int,
    duration: float,
    rate: float | None = None,
) -> dict[str, Any]:
    """``clients`` clients for ``duration`` seconds, each as fast as answers come back (closed
    loop), or together at ``rate`` reports/s (paced)."""
    tally = _Tally([], Counter(), [])
    interval = clients / rate if rate else None
    start = time.perf_counter() + 0.05
    end = start + duration
    await asyncio.gather(
        *(
            _client(
                http,
                base,
                client.bearer(tokens[i % len(tokens)]),
                workload.assets[i],
                workload.body,
                versions,
                tally,
                start,
                end,
                interval,
                (interval or 0) * i / clients,
            )
            for i in range(clients)
        )
    )
    created = tally.statuses.get(201, 0)
    return {
        "clients": clients,
        "duration_s": duration,
        "target_rate": rate,
        "reports_per_s": created / duration,
        "latency_ms": stats.summary(stats.ms(tally.latencies)),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": sum(v for k, v in tally.statuses.items() if k != 201),
        "error_samples": tally.errors,
        "unfinished_at_end": tally.late,
    }


# --- /sync ------------------------------------------------------------------------------------


def sync_batch(assets: Sequence[Asset], photo_id: str) -> bytes:
    """One device's offline batch: each completed house reported accepted, with a photo, a
    position and the version the device last saw; made a few minutes ago."""
    observed = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    reports = [
        {
            "id": str(uuid.uuid4()),
            "asset_id": a.id,
            "base_version": a.version,
            "stage": "accepted",
            "percent": 100,
            "observed_at": observed,
            "photos": [photo_id],
            "location": {"lon": a.lon + 0.00005, "lat": a.lat, "accuracy_m": 8},
        }
        for a in assets
    ]
    return json.dumps({"reports": reports}).encode()


async def send_sync(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], body: bytes
) -> dict[str, Any]:
    """POST /sync, timed from the first byte sent to the last byte of the answer."""
    headers = {**auth, "Content-Type": "application/json"}
    started = time.perf_counter()
    async with http.post(f"{base}/sync", data=body, headers=headers) as response:
        raw = await response.read()
    seconds = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"/sync answered {response.status}: {raw[:500]!r}")
    results = json.loads(raw)["results"]
    return {
        "seconds": seconds,
        "request_kb": round(len(body) / 1000),
        "response_kb": round(len(raw) / 1000),
        "statuses": dict(Counter(r["status"] for r in results)),
    }
