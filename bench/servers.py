"""The servers under test, as subprocesses on free loopback ports: ours (``rebuild serve``, or
uvicorn with several workers) and the peer, tipg, on the same database."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import machine
from bench.database import BenchDatabase

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Server:
    label: str
    base: str
    process: subprocess.Popen
    log: Path

    def pids(self) -> list[int]:
        return machine.process_tree(self.process.pid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env() -> dict[str, str]:
    # The servers get exactly the bench database: nothing inherited may point them elsewhere.
    return {k: v for k, v in os.environ.items() if not k.startswith(("REBUILD_", "TIPG_"))} | {
        "PYTHONUNBUFFERED": "1"
    }


def ours_command(port: int, workers: int) -> list[str]:
    command = [str(BIN / "rebuild"), "serve", "--port", str(port)]
    return command if workers == 1 else [*command, "--workers", str(workers)]


def shown(workers: int) -> str:
    """The command line of our server, as a person would type it."""
    command = ours_command(0, workers)
    return " ".join([Path(command[0]).name, *command[1:]]).replace("--port 0", "--port PORT")


@contextmanager
def ours(bench: BenchDatabase, workdir: Path, *, workers: int = 1) -> Iterator[Server]:
    """``rebuild serve``, with ``--workers N`` when more than one process."""
    port = free_port()
    env = _clean_env() | {
        "REBUILD_DATABASE_URL": bench.url,
        "REBUILD_HOME": str(workdir / "home"),
        "REBUILD_MEDIA_DIR": str(workdir / "media"),
    }
    label = "rebuild serve" if workers == 1 else f"rebuild serve --workers {workers}"
    with _run(label, ours_command(port, workers), env, workdir, port, PROJECT) as server:
        yield server


@contextmanager
def tipg(bench: BenchDatabase, workdir: Path) -> Iterator[Server]:
    """tipg on the same database, one uvicorn process, like ``rebuild serve``."""
    port = free_port()
    env = _clean_env() | {
        "DATABASE_URL": bench.libpq_url(),
        "TIPG_DB_SCHEMAS": '["public"]',
        # No catalog refresh in the middle of a measurement (our server has no catalog).
        "TIPG_CATALOG_TTL": "0",
    }
    cwd = workdir / "tipg"  # tipg also reads a .env file from its working folder: keep it empty
    cwd.mkdir(exist_ok=True)
    command = [str(BIN / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1", "--port", str(port)]
    with _run("tipg (uvicorn tipg.main:app)", command, env, workdir, port, cwd) as server:
        yield server


@contextmanager
def _run(
    label: str, command: list[str], env: dict[str, str], workdir: Path, port: int, cwd: Path
) -> Iterator[Server]:
    log = workdir / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    server = Server(label, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_for(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(server: Server) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.label} exited:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.label} did not answer /healthz within 120 s; see {server.log}")
