"""``python -m bench``: build the bench database, measure, write docs/benchmarks.{md,json}."""

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import anyio.to_thread

from bench import (
    client,
    database,
    imports,
    machine,
    maps,
    ogc,
    profile,
    report,
    reports,
    scale,
    servers,
    tiles,
)
from bench.database import Asset, BenchDatabase
from bench.servers import Server
from gis.progress import china_today
from gis.settings import PROJECT_ROOT, Settings

TOKENS = 10
MAP_PAGES = ["/", "/maps/overview", "/maps/houses", "/maps/water_works", "/maps/roads"]
# An earlier day for the tiles: the map steps back month by month (gis/tiles.py, _MOVED_ROWS).
PAST_TILES = "2022-03-01"


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--clients", type=int, default=50, help="concurrent report clients")
    parser.add_argument("--duration", type=float, default=15, help="seconds per timed run")
    parser.add_argument("--paced-duration", type=float, default=10, help="seconds per paced run")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per configuration")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up, not kept")
    parser.add_argument("--rate", type=float, default=500, help="paced runs: reports/s in all")
    parser.add_argument("--sync-size", type=int, default=1000, help="reports per /sync batch")
    parser.add_argument("--ogc-requests", type=int, default=50, help="sequential pages each")
    parser.add_argument("--ogc-seconds", type=float, default=5, help="per concurrent OGC run")
    parser.add_argument("--ogc-clients", type=int, default=10)
    parser.add_argument("--scale", type=float, default=1, help="demo data scale")
    parser.add_argument(
        "--large-scale",
        type=float,
        default=33,
        help="demo scale of the second database (progress, tiles, maps); 0 skips it",
    )
    parser.add_argument("--large-runs", type=int, default=10, help="timed requests each")
    parser.add_argument(
        "--import-features", type=int, default=1_000_000, help="houses to import; 0 skips"
    )
    parser.add_argument("--import-runs", type=int, default=2, help="imports, each fresh")
    parser.add_argument(
        "--quick", action="store_true", help="short runs to try the bench out; writes nothing"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep rebuild_bench afterwards")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs")
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="measure nothing: write benchmarks.md again from the figures of an earlier run",
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.duration, options.paced_duration, options.runs, options.warmup = 3, 3, 1, 1
        options.ogc_requests, options.ogc_seconds = 5, 1
        options.large_runs = 3
        options.import_features, options.import_runs = 20_000, 1
    return options


def main(argv: list[str] | None = None) -> None:
    options = _options(argv)
    if options.from_json:
        results = json.loads(options.from_json.read_text())
        (options.out / "benchmarks.md").write_text(report.markdown(results))
        _say(f"wrote {options.out / 'benchmarks.md'} from {options.from_json}")
        return
    settings = Settings(database_url=None)  # always the project-local cluster
    _say("creating the bench database (demo data through the product's loader)…")
    bench = database.create(settings, scale=options.scale)
    _say(f"loaded {bench.load}")
    results: dict[str, Any] = {
        "machine": machine.describe(bench.engine),
        "data": bench.load,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()},
    }
    try:
        with tempfile.TemporaryDirectory(prefix="rebuild-bench-") as tmp:
            results |= asyncio.run(_measure(bench, Path(tmp), options))
    finally:
        if not options.keep_db:
            database.drop(bench)
    if options.large_scale:
        results["large"] = _large(settings, options)
    if options.import_features:
        _say(f"importing a GeoPackage of {options.import_features:,} houses…")
        results["imports"] = imports.measure(
            settings, features=options.import_features, runs=options.import_runs
        )
    results["machine"]["loadavg_at_end"] = list(os.getloadavg())
    if options.quick:
        print(json.dumps(results, indent=2, default=str))
        return
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "benchmarks.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (options.out / "benchmarks.md").write_text(report.markdown(results))
    _say(f"wrote {options.out / 'benchmarks.md'} and benchmarks.json")


def _large(settings: Settings, options: argparse.Namespace) -> dict[str, Any]:
    """Progress, tiles (and tipg's tile of the same place) on a database of a million houses."""
    _say(f"creating the large database (scale {options.large_scale:g})…")
    large = database.create(settings, scale=options.large_scale, name=database.LARGE)
    _say(f"loaded {large.load}")
    try:
        with tempfile.TemporaryDirectory(prefix="rebuild-bench-large-") as tmp:
            return {"data": large.load} | asyncio.run(_measure_large(large, Path(tmp), options))
    finally:
        if not options.keep_db:
            database.drop(large)


async def _measure_large(
    large: BenchDatabase, tmp: Path, options: argparse.Namespace
) -> dict[str, Any]:
    runs = options.large_runs
    out: dict[str, Any] = {}
    places = tiles.densest(large.engine)
    boxes = ogc.boxes(large.engine, n=50)
    async with client.session(options.ogc_clients + 5) as http:
        with servers.ours(large, tmp, workers=1) as server:
            _say(f"{server.label} at {server.base} (large)")
            token = await client.token(http, server.base, database.ADMIN, large.password)
            admin = client.bearer(token)
            viewer = client.bearer(
                await client.token(http, server.base, database.VIEWER, large.password)
            )
            today = china_today().isoformat()
            out["progress"] = await scale.measure(
                http, server.base, admin, today=today, runs=runs, workbook_runs=max(2, runs // 3)
            )
            out["tiles"] = await tiles.measure(http, server.base, admin, places, runs)
            out["tiles"] |= await tiles.measure(
                http, server.base, admin, places, max(3, runs // 2), as_of=PAST_TILES
            )
            out["maps"] = await maps.measure(server.base, token, MAP_PAGES, max(3, runs // 2))
            with servers.tipg(large, tmp) as peer:
                _say(f"{peer.label} at {peer.base} (large)")
                out["tipg_tiles"] = await tiles.measure_tipg(http, peer.base, places, runs)
                out["bbox_pages"] = await ogc.measure_bbox_pages(
                    http, server.base, viewer, peer.base, boxes, runs=3,
                    clients=options.ogc_clients, seconds=options.ogc_seconds,
                    cpu=lambda work: _cpu_of(large, server, work),
                )  # fmt: skip
                out["county_pages"] = await ogc.measure_county_pages(
                    http, server.base, viewer, peer.base, ogc.counties(large.engine), runs=3
                )
    return out


def _split(assets: list[Asset], parts: int) -> list[list[Asset]]:
    return [assets[i::parts] for i in range(parts)]


class Pools:
    """Which assets each workload uses; no asset serves two workloads."""

    def __init__(self, bench: BenchDatabase, options: argparse.Namespace) -> None:
        clients = options.clients
        taken: set[int] = set()
        bare = database.assets(
            bench, "a.stage IN ('not_started', 'preparatory_done')", 10**9, skip=taken
        )
        if len(bare) < clients:
            raise SystemExit(f"only {len(bare)} assets before 已开工 for {clients} clients")
        taken |= {a.id for a in bare}
        houses = "a.layer = 'houses' AND a.stage IN ('completed', 'accepted')"
        evidence = database.assets(bench, houses, clients * 20, skip=taken)
        taken |= {a.id for a in evidence}
        # Fresh completed houses for each /sync batch: the timed ones, py-spy's, the log's.
        wanted = options.runs * options.sync_size + options.sync_size + 100
        completed = "a.layer = 'houses' AND a.stage = 'completed'"
        synced = database.assets(bench, completed, wanted, skip=taken)
        if len(synced) < wanted:
            raise SystemExit(f"only {len(synced)} completed houses for /sync, {wanted} wanted")
        self.bare = _split(bare, clients)
        self.evidence = _split(evidence, clients)
        self.sync_batches = [
            synced[i * options.sync_size : (i + 1) * options.sync_size]
            for i in range(options.runs + 1)
        ]
        self.sync_logged = synced[-100:]
        self.counts = {"bare": len(bare), "evidence": len(evidence), "sync": len(synced)}


async def _cpu_of(
    bench: BenchDatabase, server: Server, work: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    postmaster = database.postmaster_pid(bench)
    opened = database.sessions(bench)
    pids = database.backend_pids(bench)
    before = machine.sample(server.pids(), pids, postmaster, time.perf_counter())
    result = await work
    pids = database.backend_pids(bench)
    after = machine.sample(server.pids(), pids, postmaster, time.perf_counter())
    result["cpu_cores"] = machine.cpu_split(before, after)
    # The bench's own checks open none (its pool keeps its connection); the server's pool may.
    result["connections_opened_per_s"] = round(
        (database.sessions(bench) - opened) / (after.wall - before.wall), 1
    )
    return result


async def _tokens(http: aiohttp.ClientSession, base: str, bench: BenchDatabase, n: int) -> list:
    # Each login costs an Argon2 verification (a tenth of a second or more here), so the
    # clients share a few tokens; looking a token up costs the same whichever it is.
    return [await client.token(http, base, database.ADMIN, bench.password) for _ in range(n)]


async def _measure(bench: BenchDatabase, tmp: Path, options: argparse.Namespace) -> dict:
    pools = Pools(bench, options)
    _say(f"asset pools: {pools.counts}")
    out: dict[str, Any] = {
        "pools": pools.counts | {"tokens": TOKENS},
        "reports": {},
        "sync": {},
        "ogc": {},
    }
    async with client.session(max(options.clients, options.ogc_clients) + 5) as http:
        with servers.ours(bench, tmp, workers=1) as server:
            _say(f"{server.label} at {server.base}")
            tokens = await _tokens(http, server.base, bench, TOKENS)
            admin = client.bearer(tokens[0])
            viewer = await client.token(http, server.base, database.VIEWER, bench.password)
            photo = await client.upload_photo(http, server.base, admin)
            every = [a for group in pools.bare + pools.evidence for a in group]
            versions = await reports.learn_versions(http, server.base, admin, every)
            workloads = _workloads(pools, photo)
            out["reports"]["1 process"] = await _report_runs(
                http, bench, server, tokens, workloads, versions, options, single=True
            )
            out["sync"] = await _sync_runs(http, bench, server, admin, pools, photo, options)
            out["profile"] = await _py_spy(
                http, bench, server, tokens, workloads, versions, pools, photo, tmp, options
            )
            with servers.tipg(bench, tmp) as peer:
                _say(f"{peer.label} at {peer.base}")
                out["ogc"] = await _ogc_runs(http, bench, server, peer, viewer, options)
        with servers.ours(bench, tmp, workers=2) as server:
            _say(f"{server.label} at {server.base}")
            out["reports"]["2 workers"] = await _report_runs(
                http, bench, server, tokens, workloads, versions, options, single=False
            )
        out["profile"]["connections"] = profile.connection_cost(bench) | {
            # The server builds its engine with the same gis.db.make_engine.
            "pool_size": bench.engine.pool.size(),
            "max_overflow": getattr(bench.engine.pool, "_max_overflow", None),
            "threads": anyio.to_thread.current_default_thread_limiter().total_tokens,
        }
        out["profile"]["thread_hops"] = profile.thread_hops(
            bench, [("POST", "/assets/{asset_id}/reports"), ("POST", "/sync")]
        )
        out["profile"]["statements"] = await _statement_log(
            http, bench, tmp, tokens, workloads, versions, pools, photo, viewer
        )
    out["servers"] = {"1 process": servers.shown(1), "2 workers": servers.shown(2)}
    return out


def _workloads(pools: Pools, photo: str) -> dict[str, reports.Workload]:
    return {
        "bare": reports.Workload(
            "bare",
            "preparatory_done, no photo, no position (assets before 已开工)",
            pools.bare,
            reports.bare_body,
        ),
        "evidence": reports.Workload(
            "evidence",
            "accepted with 1 photo id + position (completed/accepted houses)",
            pools.evidence,
            reports.evidence_body(photo),
        ),
    }


async def _report_runs(
    http: aiohttp.ClientSession,
    bench: BenchDatabase,
    server: Server,
    tokens: list[str],
    workloads: dict[str, reports.Workload],
    versions: dict[int, int],
    options: argparse.Namespace,
    *,
    single: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {"server": server.label}
    clients, duration = options.clients, options.duration

    async def go(workload: reports.Workload, **kw: Any) -> dict[str, Any]:
        return await _cpu_of(
            bench, server, reports.run(http, server.base, tokens, workload, versions, **kw)
        )

    for name, workload in workloads.items():
        _say(f"{server.label}: {name} reports, warm-up {options.warmup:g} s")
        await go(workload, clients=clients, duration=options.warmup)
        closed = []
        for i in range(options.runs):
            closed.append(await go(workload, clients=clients, duration=duration))
            _say(f"  closed loop run {i + 1}: {_brief(closed[-1])}")
        out[f"{name}/closed"] = closed
        if name == "bare":
            # At the aim's rate, then at half of what this server just sustained: the latency
            # of the same 50 clients when the server has room to spare.
            half = round(statistics.median(r["reports_per_s"] for r in closed) / 2, -1)
            for key, rate in (("paced", options.rate), ("paced half", half)):
                paced = []
                for i in range(options.runs):
                    paced.append(
                        await go(
                            workload, clients=clients, duration=options.paced_duration, rate=rate
                        )
                    )
                    _say(f"  paced at {rate:g}/s run {i + 1}: {_brief(paced[-1])}")
                out[f"{name}/{key}"] = paced
        if single:
            one = await go(workload, clients=1, duration=min(duration, 5))
            _say(f"  one client: {_brief(one)}")
            out[f"{name}/one client"] = [one]
    return out


def _brief(run: dict[str, Any]) -> str:
    lat = run["latency_ms"]
    text = (
        f"{run['reports_per_s']:.0f}/s, p50 {lat['median']:.1f} ms, p99 {lat['p99']:.1f} ms, "
        f"errors {run['errors']}"
    )
    return f"{text}, cpu {run['cpu_cores']}" if "cpu_cores" in run else text


async def _sync_runs(
    http: aiohttp.ClientSession,
    bench: BenchDatabase,
    server: Server,
    admin: dict[str, str],
    pools: Pools,
    photo: str,
    options: argparse.Namespace,
) -> dict[str, Any]:
    fresh, again = [], []
    for i in range(options.runs):
        body = reports.sync_batch(pools.sync_batches[i], photo)
        fresh.append(
            await _cpu_of(bench, server, reports.send_sync(http, server.base, admin, body))
        )
        again.append(
            await _cpu_of(bench, server, reports.send_sync(http, server.base, admin, body))
        )
        _say(
            f"/sync of {len(pools.sync_batches[i])}: {fresh[-1]['seconds']:.2f} s "
            f"{fresh[-1]['statuses']}; resent {again[-1]['seconds']:.2f} s {again[-1]['statuses']}"
        )
    return {"size": options.sync_size, "fresh": fresh, "resent": again}


async def _py_spy(
    http: aiohttp.ClientSession,
    bench: BenchDatabase,
    server: Server,
    tokens: list[str],
    workloads: dict[str, reports.Workload],
    versions: dict[int, int],
    pools: Pools,
    photo: str,
    tmp: Path,
    options: argparse.Namespace,
) -> dict[str, Any]:
    """Sample the one-process server's GIL holder during a closed-loop run of each report
    workload and during one /sync of a fresh batch."""
    out: dict[str, Any] = {}
    pid = server.process.pid
    for name, workload in workloads.items():
        raw = tmp / f"py-spy-{name}.txt"
        spy = profile.record(pid, raw, 120)
        await asyncio.sleep(1)  # py-spy attaches
        run = await reports.run(
            http, server.base, tokens, workload, versions, clients=options.clients,
            duration=min(options.duration, 10),
        )  # fmt: skip
        out[f"{name} reports"] = _stop_spy(spy, raw) | {"run": _brief(run)}
    raw = tmp / "py-spy-sync.txt"
    spy = profile.record(pid, raw, 120)
    await asyncio.sleep(1)
    body = reports.sync_batch(pools.sync_batches[-1], photo)
    sync = await reports.send_sync(http, server.base, client.bearer(tokens[0]), body)
    out["/sync"] = _stop_spy(spy, raw) | {"run": f"{sync['seconds']:.2f} s {sync['statuses']}"}
    _say("py-spy profiles taken")
    return out


def _stop_spy(spy: Any, raw: Path) -> dict[str, Any]:
    spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
    try:
        _, err = spy.communicate(timeout=30)
    except Exception:
        spy.kill()
        raise
    if not raw.exists():
        return {"error": f"py-spy wrote nothing: {err[-500:]}"}
    return profile.gil_profile(raw)


async def _ogc_runs(
    http: aiohttp.ClientSession,
    bench: BenchDatabase,
    ours: Server,
    peer: Server,
    viewer: str,
    options: argparse.Namespace,
) -> dict[str, Any]:
    targets = ogc.targets(ours.base, viewer, peer.base)
    _say(f"OGC items: {options.ogc_requests} sequential pages from each, alternating")
    out: dict[str, Any] = {
        "urls": {name: url for name, (url, _) in targets.items()},
        "sequential": await ogc.sequential(http, targets, requests=options.ogc_requests),
        "concurrent": {"ours": [], "tipg": []},
        "clients": options.ogc_clients,
    }
    for _ in range(3):
        for name, server in (("ours", ours), ("tipg", peer)):
            url, headers = targets[name]
            run = await _cpu_of(
                bench,
                server,
                ogc.concurrent(
                    http, url, headers, clients=options.ogc_clients, seconds=options.ogc_seconds
                ),
            )
            out["concurrent"][name].append(run)
            _say(f"  {name}: {run['pages_per_s']:.1f} pages/s, cpu {run['cpu_cores']}")
    return out


async def _statement_log(
    http: aiohttp.ClientSession,
    bench: BenchDatabase,
    tmp: Path,
    tokens: list[str],
    workloads: dict[str, reports.Workload],
    versions: dict[int, int],
    pools: Pools,
    photo: str,
    viewer: str,
) -> dict[str, Any]:
    """Count the SQL statements (round trips) per request from PostgreSQL's log: one client,
    one request at a time, on a server started after the log was switched on."""
    log = profile.log_path(bench)
    offset = log.stat().st_size
    profile.set_statement_log(bench, True)
    bench.engine.dispose()  # new connections pick the setting up
    phases = {"bare": 100, "evidence": 100, "sync": 1, "ogc": 10}
    try:
        with servers.ours(bench, tmp, workers=1) as server:
            auth = client.bearer(tokens[0])
            for name in ("bare", "evidence"):
                workload = workloads[name]
                profile.mark(bench, name)
                for i in range(phases[name]):
                    asset = workload.assets[0][i % len(workload.assets[0])]
                    await reports.report_once(
                        http, server.base, auth, asset, workload.body(asset), versions
                    )
            profile.mark(bench, "sync")
            body = reports.sync_batch(pools.sync_logged, photo)
            await reports.send_sync(http, server.base, auth, body)
            profile.mark(bench, "ogc")
            url = ogc.ours_url(server.base)
            for _ in range(phases["ogc"]):
                async with http.get(url, headers=client.bearer(viewer)) as response:
                    await response.read()
            profile.mark(bench, "end")
    finally:
        profile.set_statement_log(bench, False)
        bench.engine.dispose()
    with log.open(errors="replace") as f:
        f.seek(offset)
        text = f.read()
    found = profile.statements(text, phases=phases)
    found["sync"]["reports_per_request"] = len(pools.sync_logged)
    _say("statement counts: " + ", ".join(f"{k} {v['statements_per_request']}" for k, v in
                                           found.items()))  # fmt: skip
    return found
