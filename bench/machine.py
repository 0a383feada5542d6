"""The machine a run was measured on, and who used its CPUs while it ran.

The load generator shares the machine's cores with the servers and PostgreSQL, and other work
on the machine (other engineers' tests, say) may run at the same time; every run therefore
records the CPU seconds of each party, so that a disturbed run shows as such.
"""

import datetime as dt
import os
import platform
import resource
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

TICK = os.sysconf("SC_CLK_TCK")
PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "psycopg",
    "pydantic",
    "tipg",
    "asyncpg",
    "aiohttp",
)


def _cpuinfo() -> tuple[str, int]:
    models = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ]
    return (models[0] if models else platform.processor() or "unknown"), len(models)


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe(engine: Engine) -> dict[str, object]:
    """CPU model and cores, RAM, OS, Python, PostgreSQL/PostGIS and library versions, date."""
    model, cores = _cpuinfo()
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar_one()
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    return {
        "date": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"),
        "cpu_model": model,
        "cpu_cores": cores,
        "online_cpus": os.cpu_count(),
        "ram_gib": round(_mem_total_gib(), 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "postgresql": pg,
        "postgis": postgis,
        "packages": {p: _version(p) for p in PACKAGES},
        "loadavg_at_start": list(os.getloadavg()),
        "code": code_state(),
    }


def code_state() -> dict[str, object]:
    """The commit measured, and the files of the product that differed from it (uncommitted
    changes are measured too, so they are named)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "api", "gis", "data", "pyproject.toml")
    return {
        "commit": git("rev-parse", "--short=12", "HEAD").strip() or None,
        "uncommitted": [line[3:] for line in changed.splitlines() if line.strip()],
    }


def _os_name() -> str:
    path = Path("/etc/os-release")
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


@dataclass(frozen=True)
class _Proc:
    ppid: int
    cpu: float  # user + system seconds
    system: float  # of which in the kernel (system calls)
    reaped: float  # of its children that have ended and been waited for


def _stat(pid: int) -> _Proc | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return _Proc(
        int(fields[1]),
        (int(fields[11]) + int(fields[12])) / TICK,
        int(fields[12]) / TICK,
        (int(fields[13]) + int(fields[14])) / TICK,
    )


def _all() -> dict[int, _Proc]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (proc := _stat(int(entry.name))) is not None:
            out[int(entry.name)] = proc
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree: dict[int, list[int]] = {}
    for child, proc in _all().items():
        tree.setdefault(proc.ppid, []).append(child)
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(tree.get(current, []))
    return out


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / TICK, total / TICK


def _name(pid: int) -> str:
    """A process's command name; for Python, the script or module it runs."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return "?"
    words = [a.decode(errors="replace") for a in args if a]
    if not words:
        return "?"
    name = Path(words[0].split()[0]).name  # PostgreSQL rewrites its titles: "postgres: …"
    if name.startswith("python") and len(words) > 1:
        rest = [w for w in words[1:] if not w.startswith("-")]
        name = Path(rest[0]).name if rest else name
    return name.rstrip(":")[:30]


@dataclass
class CpuSample:
    server: list[int]
    postgres: list[int]  # live PostgreSQL processes working for the bench
    postmaster: int | None
    generator: float
    busy: float
    total: float
    wall: float
    procs: dict[int, _Proc]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sample(
    server_pids: list[int], backend_pids: list[int], postmaster: int | None, wall: float
) -> CpuSample:
    busy, total = _machine_busy()
    return CpuSample(
        server=server_pids,
        postgres=backend_pids,
        postmaster=postmaster,
        generator=_own_cpu(),
        busy=busy,
        total=total,
        wall=wall,
        procs=_all(),
    )


def _grown(before: CpuSample, after: CpuSample, pids: list[int]) -> float:
    # A process born during the interval started from zero.
    zero = _Proc(0, 0.0, 0.0, 0.0)
    return sum(
        max(after.procs[p].cpu - before.procs.get(p, zero).cpu, 0.0)
        for p in pids
        if p in after.procs
    )


def _system(before: CpuSample, after: CpuSample, pids: list[int]) -> float:
    zero = _Proc(0, 0.0, 0.0, 0.0)
    return sum(
        max(after.procs[p].system - before.procs.get(p, zero).system, 0.0)
        for p in pids
        if p in after.procs
    )


def _ended_postgres(before: CpuSample, after: CpuSample) -> float:
    """CPU seconds, within the interval, of PostgreSQL backends that ended during it (closed
    connections, autovacuum workers): what the postmaster reaped, less what those that were
    already running had used before the interval. On a shared machine this includes other
    databases' backends that ended meanwhile."""
    pm = before.postmaster
    if pm is None or pm not in before.procs or pm not in after.procs:
        return 0.0
    reaped = after.procs[pm].reaped - before.procs[pm].reaped
    earlier = sum(
        proc.cpu for pid, proc in before.procs.items() if proc.ppid == pm and pid not in after.procs
    )
    return max(reaped - earlier, 0.0)


def cpu_split(before: CpuSample, after: CpuSample) -> dict[str, Any]:
    """Cores used on average during the interval, by party (2.0 = both cores of this machine),
    and the busiest other programs."""
    wall = after.wall - before.wall
    server = _grown(before, after, after.server) / wall
    ended = _ended_postgres(before, after) / wall
    postgres = _grown(before, after, after.postgres) / wall + ended
    generator = (after.generator - before.generator) / wall
    busy = (after.busy - before.busy) / wall
    ours = set(after.server) | set(after.postgres) | {os.getpid()}
    others: dict[str, float] = {}
    for pid in after.procs.keys() - ours:
        used = _grown(before, after, [pid]) / wall
        if used > 0:
            name = _name(pid)
            others[name] = others.get(name, 0.0) + used
    top = sorted(others.items(), key=lambda kv: -kv[1])[:3]
    return {
        "server": round(server, 2),
        "server_system": round(_system(before, after, after.server) / wall, 2),  # part of it
        "postgres": round(postgres, 2),
        "postgres_ended_backends": round(ended, 2),  # part of "postgres"
        "load_generator": round(generator, 2),
        "other": round(max(busy - server - postgres - generator, 0.0), 2),
        "machine_busy": round(busy, 2),
        "machine_cores": round((after.total - before.total) / wall, 2),
        "other_processes": {name: round(cores, 2) for name, cores in top if cores >= 0.05},
    }
