"""A real server for tests that need one: ``rebuild serve`` in a subprocess, on a database of
its own (committed data, real connections, concurrent clients), on a free loopback port."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
from sqlalchemy.orm import Session

from gis import db, provision
from gis.settings import Settings
from tests.conftest import Databases


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(
    databases: Databases,
    name: str,
    *,
    home: Path,
    seed: Callable[[Session], None] | None = None,
    env: dict[str, str] | None = None,
    prepare: bool = False,
    args: tuple[str, ...] = (),
) -> Iterator[str]:
    """Serve a fresh, migrated database called ``name`` (filled by ``seed`` in one committed
    transaction) and yield the base URL; the server is stopped and the database dropped after."""
    url = databases.create(name)
    if not prepare:
        db.migrate(url)
        provision.load_reference(db.make_engine(url), Settings(database_url=url))
        if seed is not None:
            with db.transaction(db.make_engine(url)) as session:
                seed(session)
    port = free_port()
    rebuild = Path(sys.executable).parent / "rebuild"
    command = [rebuild, "serve", "--port", str(port), *(["--prepare"] if prepare else []), *args]
    # The log goes to a file: a pipe nobody reads fills up and stalls a busy server.
    log = (home / f"{name}.log").open("w", encoding="utf-8")
    server = subprocess.Popen(
        command,
        env={**os.environ, "REBUILD_DATABASE_URL": url, "REBUILD_HOME": str(home), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(server, base, home / f"{name}.log")
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        db.make_engine(url).dispose()
        databases.drop(name)


def _wait_for(server: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text(encoding='utf-8')}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not answer /healthz within 180 s")
