"""Where the time goes: the SQL statements per request, the server's profile, what the
figures mean for the aims, and suggestions that follow from them (only those the figures of the
run support)."""

import statistics
from typing import Any

from bench.figures import AIM_P99_MS, AIM_RATE, group, num


def section(results: dict[str, Any]) -> list[str]:
    """The page's "Where the time goes" section."""
    lines = ["## Where the time goes", ""]
    lines += _reading(results)
    lines += _statements(results)
    lines += _py_spy(results)
    lines += _suggestions(results)
    return lines


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
            f"| {titles.get(phase, phase)} | {num(data['statements_per_request'], 1)} "
            f"| {num(data['server_ms_per_request'], 2)} |"
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
            lines.append(f"| {num(s['per_request'], 2)} | {num(s['mean_ms'], 3)} | `{sql}` |")
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
    one = group(results["reports"]["1 process"]["bare/closed"])
    two = group(results["reports"]["2 workers"]["bare/closed"])
    single = group(results["reports"]["1 process"]["bare/one client"])
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
        f"- A bare report costs the one-process server about {num(one['server_cpu_ms'], 1)} ms of "
        f"CPU and PostgreSQL about {num(one['postgres_cpu_ms'], 1)} ms "
        f"({num(one['cpu']['server'], 2)} and {num(one['cpu']['postgres'], 2)} cores at "
        f"{num(one['rate'], 0)} reports/s; {num(system, 2)} of the server's cores are system "
        "time: sockets, and waking the pool's threads). "
        + (
            "The one-process server is at its ceiling: one Python process uses at most one "
            f"core (the GIL), which at that cost is about {num(1000 / one['server_cpu_ms'], 0)} "
            "reports/s. "
            if one["cpu"]["server"] >= 0.85
            else ""
        )
        + f"Two workers reached {num(two['rate'], 0)}/s with {num(two['cpu']['server'], 2)} "
        f"cores for the server and {num(two['cpu']['postgres'], 2)} for PostgreSQL, on the same "
        "two cores as the load generator.",
        f"- With one client (no queueing) a bare report takes {num(single['p50'], 1)} ms (p50); "
        f"{num(bare['statements_per_request'], 0)} statements, i.e. round trips, of which "
        f"PostgreSQL spends {num(bare['server_ms_per_request'], 2)} ms executing. Under "
        f"{clients} clients the latency is queueing: by Little's law {clients} clients that "
        f"never pause, at R reports/s, wait {clients}/R s on average, so p99 < {AIM_P99_MS} ms "
        f"with {clients} busy clients needs well over {clients * 1000 // AIM_P99_MS} reports/s "
        "of capacity, or clients that pause between reports (the paced runs).",
        _capacity(results),
        *_churn_note(results),
        f"- Of PostgreSQL's {num(bare['server_ms_per_request'], 2)} ms for a bare report, "
        f"COMMIT (waiting for the WAL to reach the disk) takes {num(commit, 2)} ms.",
        f"- `/sync` costs {num(per_sync_report, 1)} statements per report "
        f"({num(sync['statements_per_request'], 0)} for a batch of "
        f"{sync.get('reports_per_request', '?')}; the statements are listed below), one after "
        "another on one connection and one thread.",
        "",
    ]


def _capacity(results: dict[str, Any]) -> str:
    """What the fastest configuration's CPU per report means for the aim on this machine."""
    cores = results["machine"]["cpu_cores"]
    groups = {c: group(runs["bare/closed"]) for c, runs in results["reports"].items()}
    config = max(groups, key=lambda c: groups[c]["rate"])
    g = groups[config]
    c = g["cpu"]
    per = {k: c[k] / g["rate"] * 1000 for k in ("server", "postgres", "load_generator")}
    total = sum(per.values())
    used = sum(c[k] for k in ("server", "postgres", "load_generator", "other"))
    budget = cores * 1000 / AIM_RATE
    return (
        f"- The fastest configuration ({config}) kept {num(used, 2)} of the {cores} cores busy "
        f"at {num(g['rate'], 0)} bare reports/s: {num(total, 1)} ms of CPU per report in all "
        f"(server {num(per['server'], 1)}, PostgreSQL {num(per['postgres'], 1)}, load generator "
        f"{num(per['load_generator'], 1)}). {AIM_RATE} reports/s on {cores} cores leaves "
        f"{num(budget, 1)} ms per report for all three together, so the aim "
        + (
            "is within reach of this machine's cores."
            if total <= budget
            else f"needs the CPU per report cut by {1 - budget / total:.0%}, or more cores."
        )
    )


def _churn(results: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The configuration whose pool opened the most connections per second, if that is many."""
    groups = {config: group(runs["bare/closed"]) for config, runs in results["reports"].items()}
    config = max(groups, key=lambda c: groups[c]["connections"])
    return (config, groups[config]) if groups[config]["connections"] >= 5 else None


def _churn_note(results: dict[str, Any]) -> list[str]:
    churn = _churn(results)
    if churn is None:
        return []
    config, g = churn
    cost = results["profile"].get("connections", {})
    groups = {c: group(runs["bare/closed"]) for c, runs in results["reports"].items()}
    calm = min(groups, key=lambda c: groups[c]["connections"])
    return [
        f"- {config}: the servers' connection pools opened {num(g['connections'])} new "
        f"PostgreSQL connections per second under {results['options']['clients']} clients, "
        f"and PostgreSQL spent {num(g['postgres_cpu_ms'], 1)} ms of CPU per bare report, "
        f"against {num(groups[calm]['postgres_cpu_ms'], 1)} ms with {calm} "
        f"({num(groups[calm]['connections'])} connections/s). A new connection is a new backend "
        f"process that starts with empty caches: connecting and a first query take "
        f"{num(cost.get('connect_and_plain_ms', float('nan')))} ms, "
        f"{num(cost.get('connect_and_postgis_ms', float('nan')))} ms when the query is the "
        "backend's first PostGIS call (it loads the library). How many connections the pools "
        "churn depends on how the threads happen to hand them back, so it, and the throughput "
        "with it, varies from one run of the bench to the next."
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
    two = group(results["reports"]["2 workers"]["bare/closed"])
    one = group(results["reports"]["1 process"]["bare/closed"])
    if two["rate"] > 1.1 * one["rate"]:
        out.append(
            f"**More processes.** One process reached {one['rate']:.0f} bare reports/s, two "
            f"workers {two['rate']:.0f}/s on this 2-core machine shared with PostgreSQL and the "
            "load generator. `--workers` equal to the cores left after PostgreSQL (about "
            f"{one['postgres_cpu_ms']:.1f} ms of its CPU per bare report here) is the cheapest "
            "gain on a bigger machine."
        )
    else:
        out.append(
            f"**More processes only with cores to spare.** Two workers were no faster than one "
            f"here ({two['rate']:.0f} against {one['rate']:.0f} bare reports/s): the two cores "
            "are shared with PostgreSQL and the load generator"
            + (", and PostgreSQL's share grew with the pools' connection churn" if churn else "")
            + ". On a machine with more cores, `--workers` pays off"
            + (" once the pools keep their connections." if churn else ".")
        )
    lines = [
        "### Suggestions (from the measurements above; not applied here)",
        "",
    ]
    lines += [f"{i}. {text}" for i, text in enumerate(out, start=1)]
    return [*lines, ""]
