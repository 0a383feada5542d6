"""Progress at a million houses, through the real server: the table today and as of a past day,
the first page of the overdue list, the city workbook (issue 6's aims: 150 ms, 1 s, 10 s), and
the newest reports, which county managers review from (all, and one county's).

Each request is timed from sending to the last byte, one at a time, after one warm-up request
that is not kept (the first query of a fresh connection plans its statements).
"""

import time
from typing import Any

import aiohttp

from bench import stats

PAST_DAY = "2022-03-01"  # mid-way through the demo's history: most assets reported after it
AIMS_MS = {"progress_today": 150, "progress_past": 1000, "workbook": 10_000}


def requests(today: str) -> dict[str, str]:
    """Named paths to measure."""
    return {
        "progress_today": f"/progress?as_of={today}",
        "progress_past": f"/progress?as_of={PAST_DAY}",
        "overdue_first_page": f"/progress/overdue?as_of={today}&limit=100",
        "overdue_past_first_page": f"/progress/overdue?as_of={PAST_DAY}&limit=100",
        "workbook": f"/exports/progress.xlsx?as_of={today}",
        "reports_newest": "/reports?limit=50",
        "reports_one_county": "/reports?county=410781&limit=50",
    }


async def _timed(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple:
    started = time.perf_counter()
    async with http.get(url, headers=headers) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
    return time.perf_counter() - started, len(body)


async def measure(
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    *,
    today: str,
    runs: int,
    workbook_runs: int,
) -> dict[str, Any]:
    """For each named request: median, p95, min and max in ms over ``runs`` (``workbook_runs``
    for the workbook), the answer's size, and the aim where the issue names one."""
    out: dict[str, Any] = {}
    for name, path in requests(today).items():
        url = f"{base}{path}"
        await _timed(http, url, headers)
        times, size = [], 0
        for _ in range(workbook_runs if name == "workbook" else runs):
            seconds, size = await _timed(http, url, headers)
            times.append(seconds)
        out[name] = {
            "path": path,
            "ms": stats.summary(stats.ms(times)),
            "bytes": size,
            "aim_ms": AIMS_MS.get(name),
        }
    return out
