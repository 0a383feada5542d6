"""Where the time of a report goes: the SQL statements it costs (from PostgreSQL's own log) and
what the server's Python does while it holds the GIL (py-spy, sampling the running server).

The statement log is switched on for the bench database only (``ALTER DATABASE ... SET
log_min_duration_statement = 0``, picked up by new connections) and off again afterwards; it
goes to the local cluster's log file, from which the lines written meanwhile are read back.
Each statement is one round trip: psycopg waits for each answer before sending the next.
"""

import inspect
import re
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from bench.database import BenchDatabase

MARKER = "bench-phase:"
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_DURATION = re.compile(
    r"\[(\d+)\] LOG:  duration: ([\d.]+) ms  (statement|parse|bind|execute)( [^:]*)?: (.*)",
    re.S,
)


def set_statement_log(bench: BenchDatabase, on: bool) -> None:
    setting = "SET log_min_duration_statement = 0" if on else "RESET log_min_duration_statement"
    with bench.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'ALTER DATABASE "{bench.name}" {setting}'))


def mark(bench: BenchDatabase, phase: str) -> None:
    """A statement in the log that separates one phase from the next (this connection is new
    after the log was switched on, so it is logged too)."""
    with bench.engine.connect() as conn:
        # A literal, not a parameter, so that the log line carries it (phases are constants).
        conn.execute(text(f"SELECT '{MARKER}{phase}'"))


def _records(lines: list[str]) -> list[str]:
    records: list[str] = []
    for line in lines:
        if _RECORD.match(line) or not records:
            records.append(line)
        else:
            records[-1] += "\n" + line
    return records


def _normalise(sql: str) -> str:
    sql = re.sub(r"sa_savepoint_\d+", "sa_savepoint_N", " ".join(sql.split()))
    return sql[:90] + ("…" if len(sql) > 90 else "")


def statements(log_text: str, *, phases: dict[str, int]) -> dict[str, Any]:
    """Per phase (marker name → requests made in it): statements per request and the server
    time they took, grouped by statement text."""
    current: str | None = None
    found: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    pending: dict[str, float] = defaultdict(float)  # parse/bind time per backend, until execute
    bench_pids: set[str] = set()  # the bench's own connections, which write the markers
    for record in _records(log_text.splitlines()):
        match = _DURATION.search(record)
        if match is None:
            continue
        pid, ms, kind, _name, sql = match.groups()
        if MARKER in sql:
            bench_pids.add(pid)
            if kind != "parse":
                current = sql.split(MARKER, 1)[1].split("'")[0].strip()
            continue
        if pid in bench_pids:
            continue
        sql = sql.split("\nDETAIL:", 1)[0]
        if current is None:
            continue
        if kind in ("parse", "bind"):
            pending[pid] += float(ms)
            continue
        found[current][_normalise(sql)].append(float(ms) + pending.pop(pid, 0.0))
    out = {}
    for phase, requests in phases.items():
        groups = found.get(phase, {})
        total = sum(len(v) for v in groups.values())
        server_ms = sum(sum(v) for v in groups.values())
        out[phase] = {
            "requests": requests,
            "statements_per_request": round(total / requests, 2),
            "server_ms_per_request": round(server_ms / requests, 3),
            "by_statement": sorted(
                (
                    {
                        "sql": sql,
                        "per_request": round(len(v) / requests, 2),
                        "mean_ms": round(sum(v) / len(v), 3),
                    }
                    for sql, v in groups.items()
                ),
                key=lambda s: -s["per_request"],
            ),
        }
    return out


def connection_cost(bench: BenchDatabase, times: int = 10) -> dict[str, float]:
    """Wall milliseconds to open a new connection and run a first query, without and with
    PostGIS (a new backend loads the PostGIS library on its first spatial call)."""
    conninfo = bench.cluster.conninfo(bench.name)
    out = {}
    for name, query in (
        ("plain", "SELECT 1"),
        ("postgis", "SELECT ST_AsGeoJSON(ST_MakePoint(114, 35))"),
    ):
        walls = []
        for _ in range(times):
            started = time.perf_counter()
            with psycopg.connect(conninfo) as conn:
                conn.execute(query).fetchall()
            walls.append((time.perf_counter() - started) * 1000)
        out[f"connect_and_{name}_ms"] = round(statistics.median(walls), 1)
    return out


def _hops(call: Any) -> int:
    """Thread-pool hand-offs FastAPI makes for one dependency: none for a coroutine, two for a
    sync generator (enter and exit), one for another sync callable."""
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else call.__call__
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        return 0
    return 2 if inspect.isgeneratorfunction(target) else 1


def _api_routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI keeps included routers as they are
            yield from _api_routes(route.original_router.routes)
        else:
            yield route


def thread_hops(bench: BenchDatabase, routes: list[tuple[str, str]]) -> dict[str, Any]:
    """For each (method, path): the sync steps FastAPI runs in its thread pool, one hand-off
    each, read from the application's own dependency tree (the app-wide dependencies, then
    the route's)."""
    from fastapi.dependencies.utils import get_dependant

    from api.main import create_app  # builds the app; touches no database until it serves

    app = create_app(bench.settings())
    out = {}
    for method, path in routes:
        route = next(
            r
            for r in _api_routes(app.router.routes)
            if getattr(r, "path", None) == path and method in getattr(r, "methods", ())
        )
        steps: dict[str, int] = {}

        def add(call: Any, dependant: Any, steps: dict[str, int] = steps) -> None:
            for sub in dependant.dependencies:
                add(sub.call, sub)
            name = getattr(call, "__name__", type(call).__name__)
            if name not in steps and (hops := _hops(call)):
                steps[name] = hops

        for depends in app.router.dependencies:
            add(depends.dependency, get_dependant(path=path, call=depends.dependency))
        add(route.endpoint, route.dependant)
        if route.response_field is not None and _hops(route.endpoint):
            steps["response validation"] = 1
        out[f"{method} {path}"] = {"hops": sum(steps.values()), "steps": steps}
    return out


def log_path(bench: BenchDatabase) -> Path:
    return bench.cluster.logfile


# --- py-spy -------------------------------------------------------------------------------------

PY_SPY = Path(sys.executable).parent / "py-spy"
_FRAME = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")
CATEGORIES = (
    ("SQLAlchemy", "/sqlalchemy/"),
    ("psycopg (driver)", "/psycopg"),
    ("pydantic", "/pydantic"),
    ("FastAPI", "/fastapi/"),
    ("Starlette", "/starlette/"),
    ("uvicorn / HTTP parsing", "/uvicorn/"),
    ("uvicorn / HTTP parsing", "/httptools/"),
    ("uvicorn / HTTP parsing", "/h11/"),
    ("anyio / thread pool", "/anyio/"),
    ("asyncio event loop", "/asyncio/"),
    ("json", "/json/"),
    ("logging (access log)", "/logging/"),
    ("uuid", "/uuid.py"),
    ("threading", "/threading.py"),
)


def record(pid: int, out: Path, seconds: float) -> subprocess.Popen:
    """Start py-spy on ``pid`` (samples of the thread holding the GIL, 100 per second)."""
    command = [
        str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(seconds)),
        "--rate", "100", "--gil", "--nonblocking", "--full-filenames",
        "--format", "raw", "-o", str(out),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _category(path: str) -> str:
    if _ours(path):
        return "our code (api/, gis/)"
    for name, part in CATEGORIES:
        if part in path:
            return name
    if "site-packages" in path:
        return "other libraries"
    return "Python standard library and other"


def gil_profile(raw: Path, *, top: int = 15) -> dict[str, Any]:
    """What the thread holding the GIL was running: by library (the innermost frame's file),
    the busiest functions, our functions with what they call, and the event loop thread's
    share, as shares of all samples."""
    by_category: Counter = Counter()
    by_function: Counter = Counter()
    inclusive: Counter = Counter()
    total = loop = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_FRAME.match(f) for f in stack.split(";")]
        frames = [f for f in frames if f]
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        by_category[_category(leaf.group(2))] += count
        by_function[f"{leaf.group(1)} ({_short(leaf.group(2))})"] += count
        names = {f"{f.group(1)} ({_short(f.group(2))})" for f in frames if _ours(f.group(2))}
        for name in names - {"serve (api/cli.py)"}:  # the event loop's thread: counted below
            inclusive[name] += count
        if any(f.group(2).endswith("asyncio/runners.py") for f in frames):
            loop += count
    if total == 0:
        return {"samples": 0}

    def share(counter: Counter, n: int) -> list[dict[str, Any]]:
        return [{"what": k, "share": round(v / total, 3)} for k, v in counter.most_common(n)]

    return {
        "samples": total,
        # uvicorn's event loop (HTTP parsing, routing, handing work to the thread pool) runs in
        # the main thread; the handlers and the sync dependencies run in pool threads.
        "event_loop_thread": round(loop / total, 3),
        "by_library": share(by_category, 20),
        "top_functions": share(by_function, top),
        "our_functions_inclusive": share(inclusive, top),
    }


def _ours(path: str) -> bool:
    return ("/api/" in path or "/gis/" in path) and "site-packages" not in path


def _short(path: str) -> str:
    path = re.sub(r"^.*/lib/python3\.\d+/(site-packages/)?", "", path)
    return re.sub(r"^.*/(api|gis)/", r"\1/", path)
