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


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, out, todo = _children(), [], [pid]
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


@dataclass
class CpuSample:
    server: dict[int, float]
    postgres: dict[int, float]
    generator: float
    busy: float
    total: float
    wall: float


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sample(server_pids: list[int], backend_pids: list[int], wall: float) -> CpuSample:
    busy, total = _machine_busy()
    return CpuSample(
        server={p: _proc_cpu(p) for p in server_pids},
        postgres={p: _proc_cpu(p) for p in backend_pids},
        generator=_own_cpu(),
        busy=busy,
        total=total,
        wall=wall,
    )


def _grown(before: dict[int, float], after: dict[int, float]) -> float:
    # A process born during the interval started from zero; one that ended is not counted.
    return sum(max(cpu - before.get(pid, 0.0), 0.0) for pid, cpu in after.items())


def cpu_split(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Cores used on average during the interval, by party (2.0 = both cores of this machine)."""
    wall = after.wall - before.wall
    server = _grown(before.server, after.server) / wall
    postgres = _grown(before.postgres, after.postgres) / wall
    generator = (after.generator - before.generator) / wall
    busy = (after.busy - before.busy) / wall
    return {
        "server": round(server, 2),
        "postgres": round(postgres, 2),
        "load_generator": round(generator, 2),
        "other": round(max(busy - server - postgres - generator, 0.0), 2),
        "machine_busy": round(busy, 2),
        "machine_cores": round((after.total - before.total) / wall, 2),
    }
