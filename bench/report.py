"""docs/benchmarks.md from the results of one run (the same results go to benchmarks.json)."""

import statistics
from typing import Any

AIM_RATE = 500
AIM_P99_MS = 50
AIM_SYNC_S = 2
# Cores of "other" work above which a run counts as disturbed (alone, the bench sees ~0).
QUIET = 0.25


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _range(values: list[float], digits: int = 1) -> str:
    return f"{_f(min(values), digits)}–{_f(max(values), digits)}"


def _group(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A configuration's runs: medians over runs, with the spread."""
    rates = [r["reports_per_s"] for r in runs]
    p99 = [r["latency_ms"]["p99"] for r in runs]
    cpu = {
        key: statistics.mean(r["cpu_cores"][key] for r in runs)
        for key in ("server", "postgres", "load_generator", "other")
    }
    rate = statistics.median(rates)
    return {
        "rate": rate,
        "rates": rates,
        "p50": statistics.median(r["latency_ms"]["median"] for r in runs),
        "p95": statistics.median(r["latency_ms"]["p95"] for r in runs),
        "p99": statistics.median(p99),
        "p99s": p99,
        "errors": sum(r["errors"] for r in runs),
        "reports": sum(r["latency_ms"]["n"] for r in runs),
        "cpu": cpu,
        "server_cpu_ms": cpu["server"] / rate * 1000 if rate else float("nan"),
        "postgres_cpu_ms": cpu["postgres"] / rate * 1000 if rate else float("nan"),
        "error_samples": [e for r in runs for e in r["error_samples"]][:3],
        "connections": statistics.mean(r.get("connections_opened_per_s", 0) for r in runs),
    }


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
    who = ", ".join(f"{n} {_f(c, 2)}" for n, c in sorted(names.items(), key=lambda kv: -kv[1])[:4])
    if other < QUIET:
        return [
            f"Other work on the machine used {_f(other, 2)} cores on average during the report "
            "runs: the figures are the bench's alone.",
            "",
        ]
    return [
        f"**Other work on the machine used {_f(other, 2)} of its "
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
        f"at end {_loads(m.get('loadavg_at_end', []))} |",
        f"| data | demo data set at scale {data['scale']:g} (seed {data['seed']}), loaded by "
        f"`gis.demo.load_demo`: {data['assets']:,} assets ({data['houses']:,} houses), "
        f"{data['events']:,} events, database {data['database_mb']} MB |",
        "",
    ]


def _loads(values: list[float]) -> str:
    return " / ".join(_f(v, 2) for v in values) or "?"


def _aims(results: dict[str, Any]) -> list[str]:
    configs = results["reports"]
    closed = {name: _group(c["bare/closed"]) for name, c in configs.items()}
    paced = {name: _group(c["bare/paced"]) for name, c in configs.items()}
    best = max(closed, key=lambda n: closed[n]["rate"])
    best_paced = min(paced, key=lambda n: paced[n]["p99"])
    sync = [r["seconds"] for r in results["sync"]["fresh"]]
    sync_median = statistics.median(sync)
    p = paced[best_paced]
    sustained = p["rate"] >= 0.98 * AIM_RATE
    half = {
        name: _group(c["bare/paced half"]) for name, c in configs.items() if "bare/paced half" in c
    }
    spare = ""
    if best_paced in half:
        h = half[best_paced]
        spare = (
            f"; offered {configs[best_paced]['bare/paced half'][0]['target_rate']:g}/s (half its "
            f"capacity): p99 {_f(h['p99'], 0)} ms"
        )
    rows = [
        (
            f"≥ {AIM_RATE} reports/s sustained, {results['options']['clients']} clients",
            f"at most {_f(closed[best]['rate'], 0)} reports/s ({best}, closed loop, median "
            "of runs)",
            closed[best]["rate"] >= AIM_RATE,
        ),
        (
            f"p99 < {AIM_P99_MS} ms at {AIM_RATE} reports/s",
            f"offered {AIM_RATE}/s: {_f(p['rate'], 0)}/s answered, p99 {_f(p['p99'], 0)} ms "
            f"({best_paced}){spare}",
            sustained and p["p99"] < AIM_P99_MS,
        ),
        (
            f"/sync of {results['sync']['size']:,} reports < {AIM_SYNC_S} s",
            f"median {_f(sync_median, 2)} s (runs {_range(sync, 2)} s)",
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
            g = _group(group_runs)
            workload, mode = key.split("/")
            if mode.startswith("paced"):
                mode = f"paced {group_runs[0]['target_rate']:g}/s"
            c = g["cpu"]
            lines.append(
                f"| {config} | {workload} | {mode} | {_f(g['rate'], 0)} ({_range(g['rates'], 0)}) "
                f"| {_f(g['p50'])} | {_f(g['p95'])} | {_f(g['p99'])} ({_range(g['p99s'])}) "
                f"| {g['errors']} | {_f(g['server_cpu_ms'], 2)} "
                f"| {_f(c['server'], 2)} / {_f(c['postgres'], 2)} / "
                f"{_f(c['load_generator'], 2)} / {_f(c['other'], 2)} | {_f(g['connections'])} |"
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
            f"| {name} | {_f(median, 2)} | {_f(p95, 2)} | {_range(secs, 2)} "
            f"| {_f(s['size'] / median, 0)} | {statuses} "
            f"| {runs[0]['request_kb']} / {runs[0]['response_kb']} "
            f"| {_f(cpu['server'], 2)} / {_f(cpu['postgres'], 2)} / {_f(cpu['other'], 2)} "
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
        lines.append(f"| {label} ms, {n} requests one at a time | {_f(a)} | {_f(b)} | "
                     f"{_f(a / b, 2)} |")  # fmt: skip
    lines += [
        f"| pages/s, {g['clients']} concurrent clients, median of {len(conc['ours'])} runs "
        f"of {results['options']['ogc_seconds']:g} s (runs) | {_f(c_ours)} "
        f"({_range(conc['ours'])}) | {_f(c_peer)} ({_range(conc['tipg'])}) "
        f"| {_f(c_ours / c_peer, 2)} |",
        f"| p99 ms under {g['clients']} clients (median of runs) "
        f"| {_f(_median_of(g['concurrent']['ours'], 'p99'))} "
        f"| {_f(_median_of(g['concurrent']['tipg'], 'p99'))} | |",
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
        "names (21 properties), and splices the text into the response; tipg has no login, "
        "counts the matches, fetches rows through asyncpg and builds each feature in Python "
        "(pydantic models) from the 18 columns asked with `properties=`; its `layer=houses` "
        "filter is a query parameter on the column. Both order by id and return the same "
        "1,000 houses.",
        "",
    ]
    return lines


def _median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r["latency_ms"][key] for r in runs)


def _conn(runs: list[dict[str, Any]]) -> str:
    return _f(statistics.mean(r.get("connections_opened_per_s", 0) for r in runs))


def _cpu_pair(runs: list[dict[str, Any]]) -> str:
    server = statistics.mean(r["cpu_cores"]["server"] for r in runs)
    postgres = statistics.mean(r["cpu_cores"]["postgres"] for r in runs)
    return f"{_f(server, 2)} / {_f(postgres, 2)}"


def _statements(results: dict[str, Any]) -> list[str]:
    found = results["profile"]["statements"]
    lines = [
        "### SQL statements per request (round trips)",
        "",
        "From PostgreSQL's log (`log_min_duration_statement = 0` on the bench database only, "
        "during the measurement below and not during the timed runs): one client, one request "
        "at a time. Each statement is a round trip (psycopg waits for each answer); the time is "
        "the server's own (parse + bind + execute).",
        "",
    ]
    titles = {
        "bare": "report, bare",
        "evidence": "report, with photo and position",
        "sync": f"/sync of {found['sync'].get('reports_per_request', '?')} reports",
        "ogc": "OGC items page of 1,000",
    }
    lines += [
        "| request | statements | PostgreSQL ms |",
        "|---|---|---|",
    ]
    for phase, data in found.items():
        lines.append(
            f"| {titles.get(phase, phase)} | {_f(data['statements_per_request'], 1)} "
            f"| {_f(data['server_ms_per_request'], 2)} |"
        )
    for phase in ("bare", "evidence", "sync"):
        data = found[phase]
        lines += [
            "",
            f"{titles[phase]}, by statement (per request; mean server ms):",
            "",
            "| per request | mean ms | statement |",
            "|---|---|---|",
        ]
        for s in data["by_statement"][:14]:
            sql = s["sql"].replace("|", "\\|")
            lines.append(f"| {_f(s['per_request'], 2)} | {_f(s['mean_ms'], 3)} | `{sql}` |")
    return [*lines, ""]


def _py_spy(results: dict[str, Any]) -> list[str]:
    lines = [
        "### The server's Python (py-spy)",
        "",
        "`py-spy record --gil` on `rebuild serve` during a closed-loop run of each report "
        "workload and during one fresh `/sync`: what the thread holding the GIL was running, as "
        "shares of the samples (innermost frame).",
        "",
    ]
    for name, data in results["profile"].items():
        if name in ("statements", "connections", "thread_hops"):
            continue
        if not data.get("samples"):
            lines += [f"- {name}: no samples ({data.get('error', 'py-spy wrote nothing')})", ""]
            continue
        libs = ", ".join(f"{x['what']} {x['share']:.0%}" for x in data["by_library"][:9])
        top = ", ".join(f"`{x['what']}` {x['share']:.0%}" for x in data["top_functions"][:8])
        ours = ", ".join(
            f"`{x['what']}` {x['share']:.0%}" for x in data["our_functions_inclusive"][:6]
        )
        lines += [
            f"**{name}** ({data['samples']} samples; {data['run']}):",
            "",
            f"- event loop thread (HTTP parsing, routing, hand-offs to the thread pool): "
            f"{data['event_loop_thread']:.0%}; the rest is in the pool's threads",
            f"- by library: {libs}",
            f"- busiest functions: {top}",
            f"- our functions, inclusive: {ours or 'none sampled'}",
            "",
        ]
    return lines


def _reading(results: dict[str, Any]) -> list[str]:
    one = _group(results["reports"]["1 process"]["bare/closed"])
    two = _group(results["reports"]["2 workers"]["bare/closed"])
    single = _group(results["reports"]["1 process"]["bare/one client"])
    closed = results["reports"]["1 process"]["bare/closed"]
    system = statistics.mean(r["cpu_cores"].get("server_system", float("nan")) for r in closed)
    clients = results["options"]["clients"]
    found = results["profile"]["statements"]
    bare = found["bare"]
    sync = found["sync"]
    commit = (_statement(found, "bare", "COMMIT") or {"mean_ms": float("nan")})["mean_ms"]
    per_sync_report = sync["statements_per_request"] / max(sync.get("reports_per_request", 1), 1)
    return [
        "### Reading the figures",
        "",
        f"- A bare report costs the one-process server about {_f(one['server_cpu_ms'], 1)} ms of "
        f"CPU and PostgreSQL about {_f(one['postgres_cpu_ms'], 1)} ms "
        f"({_f(one['cpu']['server'], 2)} and {_f(one['cpu']['postgres'], 2)} cores at "
        f"{_f(one['rate'], 0)} reports/s; {_f(system, 2)} of the server's cores are system "
        "time: sockets, and waking the pool's threads). "
        + (
            "The one-process server is at its ceiling: one Python process uses at most one "
            f"core (the GIL), which at that cost is about {_f(1000 / one['server_cpu_ms'], 0)} "
            "reports/s. "
            if one["cpu"]["server"] >= 0.85
            else ""
        )
        + f"Two workers reached {_f(two['rate'], 0)}/s with {_f(two['cpu']['server'], 2)} "
        f"cores for the server and {_f(two['cpu']['postgres'], 2)} for PostgreSQL, on the same "
        "two cores as the load generator.",
        f"- With one client (no queueing) a bare report takes {_f(single['p50'], 1)} ms (p50); "
        f"{_f(bare['statements_per_request'], 0)} statements, i.e. round trips, of which "
        f"PostgreSQL spends {_f(bare['server_ms_per_request'], 2)} ms executing. Under "
        f"{clients} clients the latency is queueing: by Little's law {clients} clients that "
        f"never pause, at R reports/s, wait {clients}/R s on average, so p99 < {AIM_P99_MS} ms "
        f"with {clients} busy clients needs well over {clients * 1000 // AIM_P99_MS} reports/s "
        "of capacity, or clients that pause between reports (the paced runs).",
        _capacity(two, results["machine"]["cpu_cores"]),
        *_churn_note(results),
        f"- Of PostgreSQL's {_f(bare['server_ms_per_request'], 2)} ms for a bare report, "
        f"COMMIT (waiting for the WAL to reach the disk) takes {_f(commit, 2)} ms.",
        f"- `/sync` costs {_f(per_sync_report, 1)} statements per report "
        f"({_f(sync['statements_per_request'], 0)} for a batch of "
        f"{sync.get('reports_per_request', '?')}; the statements are listed below), one after "
        "another on one connection and one thread.",
        "",
    ]


def _capacity(g: dict[str, Any], cores: int) -> str:
    """What the busiest configuration's CPU per report means for the aim on this machine."""
    c = g["cpu"]
    per = {k: c[k] / g["rate"] * 1000 for k in ("server", "postgres", "load_generator")}
    total = sum(per.values())
    used = sum(c[k] for k in ("server", "postgres", "load_generator", "other"))
    return (
        f"- Two workers kept {_f(used, 2)} of the {cores} cores busy at {_f(g['rate'], 0)} "
        f"reports/s: {_f(total, 1)} ms of CPU per report in all (server "
        f"{_f(per['server'], 1)}, PostgreSQL {_f(per['postgres'], 1)}, load generator "
        f"{_f(per['load_generator'], 1)}). {AIM_RATE} reports/s on {cores} cores leaves "
        f"{_f(cores * 1000 / AIM_RATE, 1)} ms per report for all three together, so the aim "
        + (
            "is within reach of this machine."
            if total <= cores * 1000 / AIM_RATE
            else f"needs the CPU per report cut by {1 - cores * 1000 / AIM_RATE / total:.0%}, "
            "or more cores."
        )
    )


def _churn(results: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The configuration whose pool opened the most connections per second, if that is many."""
    groups = {config: _group(runs["bare/closed"]) for config, runs in results["reports"].items()}
    config = max(groups, key=lambda c: groups[c]["connections"])
    return (config, groups[config]) if groups[config]["connections"] >= 5 else None


def _churn_note(results: dict[str, Any]) -> list[str]:
    churn = _churn(results)
    if churn is None:
        return []
    config, g = churn
    cost = results["profile"].get("connections", {})
    return [
        f"- {config}: the servers' connection pools opened {_f(g['connections'])} new "
        f"PostgreSQL connections per second under {results['options']['clients']} clients, "
        f"and PostgreSQL used {_f(g['cpu']['postgres'], 2)} cores. A new connection is a new "
        f"backend process: connecting and a first query take "
        f"{_f(cost.get('connect_and_plain_ms', float('nan')))} ms, "
        f"{_f(cost.get('connect_and_postgis_ms', float('nan')))} ms when the query is the "
        "backend's first PostGIS call (it loads the library)."
    ]


def _statement(found: dict[str, Any], phase: str, prefix: str) -> dict[str, Any] | None:
    for s in found[phase]["by_statement"]:
        if s["sql"].startswith(prefix):
            return s
    return None


def _share(profile: dict[str, Any], function: str) -> float:
    return max(
        (
            x["share"]
            for data in profile.values()
            if isinstance(data, dict)
            for x in data.get("top_functions", [])
            if x["what"].startswith(function)
        ),
        default=0.0,
    )


def _library(profile: dict[str, Any], name: str) -> float:
    return sum(x["share"] for x in profile.get("by_library", []) if x["what"] == name)


def _suggestions(results: dict[str, Any]) -> list[str]:
    """Only those the measurements of this run support, each with its figure."""
    found = results["profile"]["statements"]
    out = []
    text_share = _share(results["profile"], "TextClause.__init__")
    if text_share:
        out.append(
            f"**Build the `text()` clauses once.** `TextClause.__init__` (SQLAlchemy parsing the "
            f"bind parameters of a `text()` built anew on every call) takes up to "
            f"{text_share:.0%} of the GIL samples above. Module-level `text(...)` constants in "
            "`gis/reports.py`, `gis/users.py` and `gis/queries/` are built once and let "
            "SQLAlchemy reuse its compiled form."
        )
    trips = []
    ping = _statement(found, "bare", ";")
    if ping and ping["per_request"] >= 0.9:
        trips.append(
            "the pool's pre-ping (`;`, from `pool_pre_ping=True` in `gis/db.py`; "
            "`pool_recycle` plus the error path would do without it)"
        )
    dup = _statement(found, "bare", "SELECT asset_id FROM asset_events")
    if dup:
        trips.append("the duplicate check (a sub-select of the locking query can answer it)")
    report = _statement(found, "bare", "SELECT json_build_object( 'id', e.id")
    feature = _statement(found, "bare", "SELECT a.county_adcode, json_build_object(")
    if report and feature:
        trips.append(
            "re-reading the report and the asset for the answer (the INSERT and UPDATE can "
            "return them: `WITH ev AS (INSERT … RETURNING …), up AS (UPDATE … RETURNING …) "
            "SELECT …`)"
        )
    if trips:
        n = found["bare"]["statements_per_request"]
        out.append(
            f"**Fewer round trips per report** (now {n:.0f} for a bare report): "
            + "; ".join(trips)
            + ". Each statement saved is its SQLAlchemy and psycopg work in the server's "
            "Python, the largest shares of the profile, plus a wait on the socket."
        )
    bare_profile = results["profile"].get("bare reports", {})
    handoff = _library(bare_profile, "threading") + _library(bare_profile, "anyio / thread pool")
    hops = results["profile"].get("thread_hops", {}).get("POST /assets/{asset_id}/reports")
    if handoff >= 0.1 and hops and hops["hops"] > 1:
        steps = ", ".join(
            f"`{name}`" + (" (enter and exit)" if n == 2 else "")
            for name, n in hops["steps"].items()
        )
        out.append(
            f"**Fewer thread-pool hand-offs.** Python's `threading` and anyio's thread pool take "
            f"{handoff:.0%} of the GIL samples of a bare report. FastAPI runs each sync "
            f"dependency and the sync handler in its thread pool separately: a report makes "
            f"{hops['hops']} hand-offs ({steps}), each waking a thread and waiting for it on the "
            "event loop. One sync step that opens the session, checks the token and calls "
            "`gis/` would make one (an `async def` route that calls it through "
            "`run_in_threadpool` once, say)."
        )
    alchemy = _library(bare_profile, "SQLAlchemy")
    if alchemy >= 0.15:
        n = found["bare"]["statements_per_request"]
        out.append(
            f"**Less SQLAlchemy per statement.** SQLAlchemy's own work (the compiled-statement "
            "cache, parameter processing, result set-up; the SQL is already text) is "
            f"{alchemy:.0%} of the GIL samples of a bare report, for {n:.0f} statements. The "
            "report path's fixed statements can run on the session's psycopg connection "
            "(`session.connection().connection.driver_connection`) inside the same transaction."
        )
    token = _statement(found, "bare", "SELECT u.id, u.username")
    if token:
        out.append(
            f"**Token lookups.** Every request looks its bearer token up again "
            f"({token['mean_ms']:.2f} ms in PostgreSQL plus a statement in Python). A short-lived "
            "in-process cache keyed by the token's hash, like `BasicCache`, would save it, at "
            "the price of a revocation taking effect up to the cache's lifetime later."
        )
    savepoint = _statement(found, "sync", "SAVEPOINT")
    if savepoint:
        per = found["sync"]["statements_per_request"] / max(
            found["sync"].get("reports_per_request", 1), 1
        )
        out.append(
            f"**`/sync` in sets** (now {per:.1f} statements per report, one after another). "
            "Lock the batch's assets with one `SELECT … WHERE id = ANY(:ids) ORDER BY id FOR "
            "UPDATE`, find the duplicates with one `= ANY(:ids)`, compute the distances in one "
            "query, and insert the events and photo links with `executemany` (psycopg "
            "pipelines it), keeping a SAVEPOINT only for the reports that fail a check."
        )
    churn = _churn(results)
    if churn is not None:
        config, g = churn
        pool = results["profile"].get("connections", {})
        out.append(
            f"**Keep the connections open.** With {config} the pools opened "
            f"{g['connections']:.0f} connections/s (see above): `gis/db.py` gives each process "
            f"a pool of {pool.get('pool_size')} (+{pool.get('max_overflow')} overflow) while "
            f"FastAPI runs up to {pool.get('threads')} requests at once in its thread pool, so "
            "overflow connections are opened and closed again under load. "
            "A pool as large as the concurrency a process may have (or a thread pool no larger "
            "than the pool) keeps every backend, and its loaded PostGIS, alive."
        )
    two = _group(results["reports"]["2 workers"]["bare/closed"])
    one = _group(results["reports"]["1 process"]["bare/closed"])
    out.append(
        f"**Processes, not threads.** One process reached {one['rate']:.0f} bare reports/s, two "
        f"workers {two['rate']:.0f}/s on this 2-core machine shared with PostgreSQL and the load "
        "generator. Serving with `--workers` equal to the cores left after PostgreSQL is the "
        "cheapest gain on a bigger machine; PostgreSQL took about "
        f"{one['postgres_cpu_ms']:.1f} ms of CPU per bare report here."
    )
    lines = [
        "### Suggestions (from the measurements above; not applied here)",
        "",
    ]
    lines += [f"{i}. {text}" for i, text in enumerate(out, start=1)]
    return [*lines, ""]


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
    lines += ["## Where the time goes", ""]
    lines += _reading(results)
    lines += _statements(results)
    lines += _py_spy(results)
    lines += _suggestions(results)
    return "\n".join(lines).rstrip() + "\n"
