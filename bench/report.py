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
        "the whole page as JSON inside PostGIS in the same statement (each feature concatenated "
        "from JSON pieces, `string_agg`), joining the kind, county and stage "
        f"names ({ours['page']['properties_per_feature']} properties), and splices the bytes "
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


def _large(results: dict[str, Any]) -> list[str]:
    if "large" not in results:
        return []
    g = results["large"]
    d = g["data"]
    lines = [
        f"## A million houses: progress, exports, tiles (scale {d['scale']:g})",
        "",
        f"A second database (`rebuild_bench_large`, dropped afterwards): {d['assets']:,} assets "
        f"of which {d['houses']:,} houses, {d['events']:,} events, {d['database_mb']:,} MB; "
        f"demo load {d['demo_load_seconds']:g} s. One `rebuild serve` process; each request "
        "one at a time after one warm-up request, timed to the last byte, as an administrator "
        "(the whole city).",
        "",
        "| request | median ms | p95 ms | min–max ms | answer | aim | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in g["progress"].values():
        t, aim = r["ms"], r.get("aim_ms")
        met = "" if aim is None else ("yes" if t["median"] <= aim else "**no**")
        lines.append(
            f"| `{r['path']}` ({t['n']} runs) | {num(t['median'])} | {num(t['p95'])} "
            f"| {num(t['min'])}–{num(t['max'])} | {r['bytes'] / 1000:,.0f} KB "
            f"| {'' if aim is None else f'≤ {aim:,} ms'} | {met} |"
        )
    lines += ["", *_tiles(g), "", *_maps(g), "", *_bbox(g), "", *_county_pages(g), ""]
    return lines


def _bbox(g: dict[str, Any]) -> list[str]:
    if "bbox_pages" not in g:
        return []
    b = g["bbox_pages"]
    lines = [
        f"OGC API items: full pages of 1,000 houses in {b['boxes']} random boxes (each holding "
        f"at least 1,000), {b['runs']} passes one request at a time, ours (a city viewer's "
        "token) and tipg alternately, then "
        f"{b['clients']} clients in a closed loop. Aims: ≤ 15 ms median, ≥ 250 pages/s.",
        "",
        "| encoding | server | median ms | p95 ms | min–max ms | pages/s | bytes on the wire |",
        "|---|---|---|---|---|---|---|",
    ]
    for encoding in ("identity", "gzip"):
        r = b[encoding]
        for name in ("ours", "tipg"):
            t = r[name]["latency_ms"]
            lines.append(
                f"| {encoding} | {name} | {num(t['median'], 1)} | {num(t['p95'], 1)} | "
                f"{num(t['min'], 1)}–{num(t['max'], 1)} | "
                f"{num(r[name]['concurrent']['pages_per_s'])} | "
                f"{r[name]['bytes_median'] / 1000:,.0f} KB |"
            )
        q = r["ratios"]
        lines.append(
            f"| {encoding} | tipg's time / ours; our pages/s / tipg's | "
            f"{num(q['median_latency_tipg_over_ours'], 2)}× | | | "
            f"{num(q['pages_per_s_ours_over_tipg'], 2)}× | |"
        )
    lines += _page_cpu(b)
    return lines


def _page_cpu(b: dict[str, Any]) -> list[str]:
    """What one of our pages cost each party in CPU during the closed loop, from the cores each
    used and the pages served."""
    loop = b["identity"]["ours"]["concurrent"]
    cores = loop.get("cpu_cores")
    if not cores:
        return []
    per_page = {k: cores[k] / loop["pages_per_s"] * 1000 for k in ("server", "postgres")}
    per_page["load_generator"] = cores["load_generator"] / loop["pages_per_s"] * 1000
    total = sum(per_page.values())
    return [
        "",
        f"CPU per page in our closed loop without compression: PostgreSQL "
        f"{num(per_page['postgres'], 1)} ms, our server process {num(per_page['server'], 1)} ms, "
        f"the load generator {num(per_page['load_generator'], 1)} ms; {num(total, 1)} ms in all, "
        f"so this machine's {cores.get('machine_cores', 2):g} cores could serve at most "
        f"{num(cores.get('machine_cores', 2) * 1000 / total)} pages/s at that cost.",
    ]


def _county_pages(g: dict[str, Any]) -> list[str]:
    if "county_pages" not in g:
        return []
    c = g["county_pages"]
    lines = [
        f"OGC API items filtered by county: pages of {c['limit']} houses of each of the "
        f"{c['counties']} counties (`county=` ours, `county_adcode=` tipg), the first and one "
        f"{c['deep_offset']:,} features in, {c['runs']} passes one request at a time, "
        "ours and tipg alternately.",
        "",
        "| page | server | median ms | p95 ms | min–max ms |",
        "|---|---|---|---|---|",
    ]
    for offset in (0, c["deep_offset"]):
        for name in ("ours", "tipg"):
            t = c[f"offset_{offset}"][name]
            lines.append(
                f"| offset {offset:,} | {name} | {num(t['median'], 1)} | "
                f"{num(t['p95'], 1)} | {num(t['min'], 1)}–{num(t['max'], 1)} |"
            )
    return lines


def _imports(results: dict[str, Any]) -> list[str]:
    if "imports" not in results:
        return []
    r = results["imports"]
    return [
        f"## Importing a GeoPackage of {r['features']:,} houses",
        "",
        f"`rebuild import`'s code path (`import_inventory`) on a {r['file_mb']:g} MB GeoPackage, "
        f"each run into a fresh database: {', '.join(f'{s:g} s' for s in r['seconds'])}; "
        f"median {r['median_s']:g} s = **{r['features_per_s']:,} features/s** (aim "
        f"{r['aim_per_s']:,}/s: {'met' if r['features_per_s'] >= r['aim_per_s'] else '**not met**'}"
        f"). Steps of the first run (s): "
        + ", ".join(f"{k} {v:g}" for k, v in r["steps_s"][0].items())
        + ".",
        "",
    ]


def _maps(g: dict[str, Any]) -> list[str]:
    if "maps" not in g:
        return []
    lines = [
        "Map pages in headless Chromium (Debian's), a fresh context each run (no cache), as an "
        "administrator; first render = the page's own clock from navigation until the document "
        "is complete and no vector tile is still loading. Aims: under 1 MB and 2 s.",
        "",
        "| page | HTML | first render median ms | p95 ms | min–max ms | met |",
        "|---|---|---|---|---|---|",
    ]
    for path, m in g["maps"].items():
        t = m["render_ms"]
        met = m["html_bytes"] < 1_000_000 and t["median"] < 2000
        lines.append(
            f"| `{path}` | {m['html_bytes'] / 1000:,.0f} KB | {num(t['median'])} | "
            f"{num(t['p95'])} | {num(t['min'])}–{num(t['max'])} | {'yes' if met else '**no**'} |"
        )
    return lines


def _tiles(g: dict[str, Any]) -> list[str]:
    if "tiles" not in g:
        return []
    lines = [
        "Vector tiles of houses, the densest z14 and z10 tile of the database, as of today and "
        "of an earlier day; tipg (the peer) asked for the same tiles of the same table "
        "(`layer=houses`; it has no notion of a day).",
        "",
        "| tile | server | median ms | p95 ms | min–max ms | size | features | assets "
        "represented |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, ours in g["tiles"].items():
        z, x, y = ours["tile"]
        rows = [("ours", ours)]
        if name in g.get("tipg_tiles", {}):
            rows.append(("tipg", g["tipg_tiles"][name]))
        when = f" as of {ours['as_of']}" if ours.get("as_of") else ""
        for label, t in rows:
            lines.append(
                f"| {z}/{x}/{y}{when} | {label} | {num(t['median_ms'], 1)} | {num(t['p95_ms'], 1)} "
                f"| {num(t['min_ms'], 1)}–{num(t['max_ms'], 1)} | {t['bytes'] / 1000:,.0f} KB "
                f"| {t['features']:,} | {t['assets']:,} |"
            )
        if len(rows) == 2:
            ratio = ours["median_ms"] / rows[1][1]["median_ms"]
            lines.append(f"| | ours / tipg | {num(ratio, 2)} | | | | | |")
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
    lines += _large(results)
    lines += _imports(results)
    lines += findings.section(results)
    return "\n".join(lines).rstrip() + "\n"
