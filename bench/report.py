"""docs/benchmarks.md from the results of one run (the same results go to benchmarks.json)."""

import statistics
from typing import Any

from bench import findings
from bench.figures import AIM_P99_MS, AIM_RATE, AIM_SYNC_S, group, num, spread

# Cores of "other" work above which a run counts as disturbed (alone, the bench sees ~0).
QUIET = 0.25


def _disturbance(results: dict[str, Any]) -> list[str]:
    """A warning when other work on the machine took a noticeable share of the CPUs."""
    others = [
        run["cpu_cores"]["other"]
        for config in results["reports"].values()
        for key, runs in config.items()
        if key != "server"
        for run in runs
    ]
    other = statistics.mean(others)
    names: dict[str, float] = {}
    runs = [
        run
        for config in results["reports"].values()
        for key, group in config.items()
        if key != "server"
        for run in group
    ]
    for run in runs:
        for name, cores in run["cpu_cores"].get("other_processes", {}).items():
            names[name] = names.get(name, 0.0) + cores / len(runs)
    who = ", ".join(f"{n} {num(c, 2)}" for n, c in sorted(names.items(), key=lambda kv: -kv[1])[:4])
    if other < QUIET:
        return [
            f"Other work on the machine used {num(other, 2)} cores on average during the report "
            "runs: the figures are the bench's alone.",
            "",
        ]
    return [
        f"**Other work on the machine used {num(other, 2)} of its "
        f"{results['machine']['cpu_cores']} cores on average during the report runs** (the "
        f"*other* column; the busiest other programs, in cores: {who or 'none above 0.05'}), "
        "so the servers had that "
        "much less: the throughputs below are lower, and the latencies higher, than this "
        "machine gives when it runs the bench alone. The CPU milliseconds per report are the "
        "steadier figure.",
        "",
    ]


def _machine(results: dict[str, Any]) -> list[str]:
    m, data = results["machine"], results["data"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    code = m["code"]
    changed = ", ".join(code["uncommitted"]) or "none"
    return [
        "## Machine and data",
        "",
        "| | |",
        "|---|---|",
        f"| date | {m['date']} |",
        f"| CPU | {m['cpu_model']}, {m['cpu_cores']} cores (/proc/cpuinfo) |",
        f"| RAM | {m['ram_gib']} GiB |",
        f"| system | {m['os']}, Linux {m['kernel']}, Python {m['python']} |",
        f"| database | PostgreSQL {m['postgresql']}, PostGIS {m['postgis']} "
        "(the project-local cluster, `gis/localdb.py` settings) |",
        f"| libraries | {packages} |",
        f"| code | commit {code['commit']}; uncommitted changes measured: {changed} |",
        f"| load average (1, 5, 15 min) | at start {_loads(m['loadavg_at_start'])}; "
        f"at end {_loads(m.get('loadavg_at_end', []))} (the servers' own busy threads count "
        "too; the *other* CPU column says whether anything else ran) |",
        f"| data | demo data set at scale {data['scale']:g} (seed {data['seed']}), loaded by "
        f"`gis.demo.load_demo`: {data['assets']:,} assets ({data['houses']:,} houses), "
        f"{data['events']:,} events, database {data['database_mb']} MB |",
        "",
    ]


def _loads(values: list[float]) -> str:
    return " / ".join(num(v, 2) for v in values) or "?"


def _aims(results: dict[str, Any]) -> list[str]:
    configs = results["reports"]
    closed = {name: group(c["bare/closed"]) for name, c in configs.items()}
    paced = {name: group(c["bare/paced"]) for name, c in configs.items()}
    best = max(closed, key=lambda n: closed[n]["rate"])
    best_paced = min(paced, key=lambda n: paced[n]["p99"])
    sync = [r["seconds"] for r in results["sync"]["fresh"]]
    sync_median = statistics.median(sync)
    p = paced[best_paced]
    sustained = p["rate"] >= 0.98 * AIM_RATE
    half = {
        name: group(c["bare/paced half"]) for name, c in configs.items() if "bare/paced half" in c
    }
    spare = ""
    if best_paced in half:
        h = half[best_paced]
        spare = (
            f"; offered {configs[best_paced]['bare/paced half'][0]['target_rate']:g}/s (half its "
            f"capacity): p99 {num(h['p99'], 0)} ms"
        )
    rows = [
        (
            f"≥ {AIM_RATE} reports/s sustained, {results['options']['clients']} clients",
            f"at most {num(closed[best]['rate'], 0)} reports/s ({best}, closed loop, median "
            "of runs)",
            closed[best]["rate"] >= AIM_RATE,
        ),
        (
            f"p99 < {AIM_P99_MS} ms at {AIM_RATE} reports/s",
            f"offered {AIM_RATE}/s: {num(p['rate'], 0)}/s answered, p99 {num(p['p99'], 0)} ms "
            f"({best_paced}){spare}",
            sustained and p["p99"] < AIM_P99_MS,
        ),
        (
            f"/sync of {results['sync']['size']:,} reports < {AIM_SYNC_S} s",
            f"median {num(sync_median, 2)} s (runs {spread(sync, 2)} s)",
            sync_median < AIM_SYNC_S,
        ),
    ]
    lines = ["## The aims", "", "| aim | measured | met |", "|---|---|---|"]
    lines += [f"| {aim} | {got} | {'yes' if ok else '**no**'} |" for aim, got, ok in rows]
    return [*lines, ""]


def _reports(results: dict[str, Any]) -> list[str]:
    o = results["options"]
    pools = results["pools"]
    lines = [
        "## Field reports: POST /assets/{id}/reports",
        "",
        f"{o['clients']} asyncio clients (aiohttp, one keep-alive connection each) in the bench "
        "process, on loopback. Each client owns its own assets (no two clients touch one asset), "
        "sends `If-Match` with the version it learnt from `GET /assets/{id}` and then from each "
        "201's `ETag`, and reports `observed_at` = now. Account: one administrator "
        f"(`gis.users.add_user`; may report in every county), {pools.get('tokens', '?')} "
        "bearer tokens from `POST /auth/token` shared by the clients (each login costs an "
        "Argon2 verification; a token lookup costs the same whichever token it is).",
        "",
        f"- **bare**: `preparatory_done`, 0 %, no photo, no position, on the {pools['bare']} "
        "assets not yet started or only prepared (the demo has no more): "
        "`data/evidence.toml` asks a photo and a position for 已开工 and later, so these are the "
        "only reports that need neither. The first report moves 未开工 → 前期完成; later ones "
        "re-confirm the stage with a newer observation (applied, version + 1).",
        f"- **evidence**: `accepted`, 100 %, one photo id (uploaded once by `POST /photos`) and a "
        f"position 4 m from the asset, on {pools['evidence']} completed or accepted houses; "
        "`data/evidence.toml` as shipped.",
        f"- **closed loop**: each client sends its next report when the previous one is answered; "
        f"{o['runs']} runs of {o['duration']:g} s after {o['warmup']:g} s of warm-up. Reports/s "
        "counts 201s answered within the run; latency is from send to the last byte.",
        f"- **paced**: the clients together offer {o['rate']:g} reports/s (each every "
        f"{o['clients'] / o['rate'] * 1000:g} ms), then half of what the same server sustained "
        f"in the closed loop; {o['runs']} runs of {o['paced_duration']:g} s each. Latency counts "
        "from when a report was due, so a server that falls behind shows it.",
        "- **one client**: a single client in a closed loop, for the latency without queueing.",
        "",
        "CPU columns: cores used on average during the runs (2.00 = the whole machine) by the "
        "server process(es); PostgreSQL (the bench database's backends, the cluster's "
        "background processes such as the WAL writer, and backends that ended during the run: "
        "closed connections, autovacuum workers; on a shared machine the last may include "
        "other databases' backends); the load generator; and *other*: everything else, "
        "including the kernel's share that /proc does not charge to a process. *New "
        "connections/s*: connections the server's pool opened to PostgreSQL during the run "
        "(`pg_stat_database.sessions`).",
        "",
        "| server | workload | mode | reports/s median (runs) | p50 ms | p95 ms | p99 ms (runs) "
        "| errors | server CPU ms / report | CPU cores: server / PostgreSQL / generator / other "
        "| new connections/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    errors = []
    for config, runs in results["reports"].items():
        for key, group_runs in runs.items():
            if key == "server":
                continue
            g = group(group_runs)
            workload, mode = key.split("/")
            if mode.startswith("paced"):
                mode = f"paced {group_runs[0]['target_rate']:g}/s"
            c = g["cpu"]
            lines.append(
                f"| {config} | {workload} | {mode} | {num(g['rate'], 0)} ({spread(g['rates'], 0)}) "
                f"| {num(g['p50'])} | {num(g['p95'])} | {num(g['p99'])} ({spread(g['p99s'])}) "
                f"| {g['errors']} | {num(g['server_cpu_ms'], 2)} "
                f"| {num(c['server'], 2)} / {num(c['postgres'], 2)} / "
                f"{num(c['load_generator'], 2)} / {num(c['other'], 2)} | {num(g['connections'])} |"
            )
            errors += g["error_samples"]
    lines += ["", "Servers: " + "; ".join(f"{k}: `{v}`" for k, v in results["servers"].items())]
    lines.append(
        "(both with uvicorn's default access log on, as shipped; `REBUILD_DATABASE_URL` set to "
        "the bench database)."
    )
    if errors:
        lines += ["", "Errors seen (first few):", ""] + [f"- `{e[:200]}`" for e in errors]
    return [*lines, ""]


def _sync(results: dict[str, Any]) -> list[str]:
    s = results["sync"]
    lines = [
        "## Offline batch: POST /sync",
        "",
        f"One batch of {s['size']:,} reports on {s['size']:,} distinct completed houses (fresh "
        "houses every run), each `accepted` 100 % with a photo id, a position, the "
        "`base_version` the device saw and a client-chosen UUID; timed from the client, from "
        "the first byte sent to the last byte received, on `rebuild serve`. Then the same "
        "batch sent again (every report a duplicate).",
        "",
        "| batch | median s | p95 s | min–max s | reports/s | results | request / response KB "
        "| CPU cores: server / PostgreSQL / other | new connections/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in (("fresh", s["fresh"]), ("resent (duplicates)", s["resent"])):
        secs = [r["seconds"] for r in runs]
        median = statistics.median(secs)
        p95 = sorted(secs)[max(0, round(0.95 * (len(secs) - 1)))]
        statuses = ", ".join(f"{k} {v}" for k, v in runs[0]["statuses"].items())
        cpu = {
            k: statistics.mean(r["cpu_cores"][k] for r in runs)
            for k in ("server", "postgres", "other")
        }
        lines.append(
            f"| {name} | {num(median, 2)} | {num(p95, 2)} | {spread(secs, 2)} "
            f"| {num(s['size'] / median, 0)} | {statuses} "
            f"| {runs[0]['request_kb']} / {runs[0]['response_kb']} "
            f"| {num(cpu['server'], 2)} / {num(cpu['postgres'], 2)} / {num(cpu['other'], 2)} "
            f"| {_conn(runs)} |"
        )
    return [*lines, ""]


def _ogc(results: dict[str, Any]) -> list[str]:
    g = results["ogc"]
    seq = g["sequential"]
    ours, peer = seq["ours"], seq["tipg"]
    n = ours["latency_ms"]["n"]
    conc = {k: [r["pages_per_s"] for r in v] for k, v in g["concurrent"].items()}
    c_ours, c_peer = statistics.median(conc["ours"]), statistics.median(conc["tipg"])
    lines = [
        "## OGC API items: ours against tipg (the peer)",
        "",
        f"- ours: `{g['urls']['ours'].split('/', 3)[-1]}` with a city viewer's bearer token",
        f"- tipg {results['machine']['packages'].get('tipg')}: "
        f"`{g['urls']['tipg'].split('/', 3)[-1]}`",
        "",
        "Both on the same bench database and the same socket, one uvicorn process each, asked "
        "without compression; the sequential requests alternate between the two servers so that "
        "other load on the machine falls on both alike.",
        "",
        "| | ours | tipg | ours / tipg |",
        "|---|---|---|---|",
    ]
    for key, label in (("median", "median"), ("p95", "p95"), ("min", "min"), ("max", "max")):
        a, b = ours["latency_ms"][key], peer["latency_ms"][key]
        lines.append(f"| {label} ms, {n} requests one at a time | {num(a)} | {num(b)} | "
                     f"{num(a / b, 2)} |")  # fmt: skip
    lines += [
        f"| pages/s, {g['clients']} concurrent clients, median of {len(conc['ours'])} runs "
        f"of {results['options']['ogc_seconds']:g} s (runs) | {num(c_ours)} "
        f"({spread(conc['ours'])}) | {num(c_peer)} ({spread(conc['tipg'])}) "
        f"| {num(c_ours / c_peer, 2)} |",
        f"| p99 ms under {g['clients']} clients (median of runs) "
        f"| {num(_median_of(g['concurrent']['ours'], 'p99'))} "
        f"| {num(_median_of(g['concurrent']['tipg'], 'p99'))} | |",
        f"| CPU cores under load: server / PostgreSQL | {_cpu_pair(g['concurrent']['ours'])} "
        f"| {_cpu_pair(g['concurrent']['tipg'])} | |",
        f"| new PostgreSQL connections/s under load | {_conn(g['concurrent']['ours'])} "
        f"| {_conn(g['concurrent']['tipg'])} | |",
        f"| page size | {ours['page']['bytes'] / 1000:,.0f} KB, {ours['page']['features']} "
        f"features, {ours['page']['properties_per_feature']} properties | "
        f"{peer['page']['bytes'] / 1000:,.0f} KB, {peer['page']['features']} features, "
        f"{peer['page']['properties_per_feature']} properties | |",
        "",
        "What differs: ours checks the bearer token (one query), counts the matches and builds "
        "the whole page as JSON inside PostGIS (`json_agg`), joining the kind, county and stage "
        f"names ({ours['page']['properties_per_feature']} properties), and splices the text "
        "into the response; tipg has no login, counts the matches, fetches rows through "
        "asyncpg and builds each feature in Python (pydantic models) from the "
        f"{peer['page']['properties_per_feature']} columns asked with `properties=`; its "
        "`layer=houses` filter is a query parameter on the column. Both order by id"
        + (
            f" and return the same {ours['page']['features']:,} houses."
            if (ours["page"]["first_id"], ours["page"]["last_id"])
            == (peer["page"]["first_id"], peer["page"]["last_id"])
            else "; their pages do not start and end on the same houses."
        ),
        "",
    ]
    return lines


def _median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r["latency_ms"][key] for r in runs)


def _conn(runs: list[dict[str, Any]]) -> str:
    return num(statistics.mean(r.get("connections_opened_per_s", 0) for r in runs))


def _cpu_pair(runs: list[dict[str, Any]]) -> str:
    server = statistics.mean(r["cpu_cores"]["server"] for r in runs)
    postgres = statistics.mean(r["cpu_cores"]["postgres"] for r in runs)
    return f"{num(server, 2)} / {num(postgres, 2)}"


def markdown(results: dict[str, Any]) -> str:
    """The whole page."""
    o = results["options"]
    lines = [
        "# Benchmarks 性能测试",
        "",
        "Generated by `make bench` (`python -m bench`); do not edit by hand. The raw figures are "
        "in `docs/benchmarks.json`. The bench makes a database of its own in the project-local "
        "PostGIS (`rebuild_bench`, dropped afterwards), starts the real servers as subprocesses "
        "on loopback ports, and drives them from the same machine: the load generator shares the "
        "machine's cores with the servers and PostgreSQL, and its share is shown with every run.",
        "",
        f"Options: {o['clients']} clients, {o['runs']} runs of {o['duration']:g} s (closed loop) "
        f"and {o['paced_duration']:g} s (paced), {o['warmup']:g} s warm-up.",
        "",
    ]
    lines += _disturbance(results)
    lines += _machine(results)
    lines += _aims(results)
    lines += _reports(results)
    lines += _sync(results)
    lines += _ogc(results)
    lines += findings.section(results)
    return "\n".join(lines).rstrip() + "\n"
