"""Browser tests: Debian's Chromium driven by Playwright against a live server on 127.0.0.1.

Never skipped: without /usr/bin/chromium they fail and say how to install it (``make test``
does, as root). ``playwright install`` is not used: it downloads a browser build, which an
intranet machine or this CI cannot.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from gis import db, provision, users
from gis.assets import create_asset
from gis.settings import Settings
from tests.conftest import Databases, test_db_name
from tests.samples import WEIHUI_HOUSE

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium's sandbox refuses to start as root, which CI is
    "--disable-background-networking",  # no calls home: every request must go to 127.0.0.1
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. Run `make test` "
            "(as root it installs it), or `sudo apt-get install chromium fonts-wqy-microhei`."
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass(frozen=True)
class Live:
    """A served database with one house in 卫辉市, an inspector of that county, and an admin."""

    base: str
    asset_id: int
    inspector: tuple[str, str]  # username, password
    admin: tuple[str, str]


INSPECTOR = ("weihui-inspector", "inspect-weihui-2022")
ADMIN = ("city-admin", "admin-xinxiang-2022")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live(
    databases: Databases, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """`rebuild serve` in a subprocess, on a database of its own built by the product's loaders."""
    name = test_db_name("_browser")
    url = databases.create(name)
    db.migrate(url)
    engine = db.make_engine(url)
    provision.load_reference(engine, settings)
    with db.transaction(engine) as session:
        asset_id = create_asset(session, asset_in=WEIHUI_HOUSE)
        users.add_user(
            session,
            username=INSPECTOR[0],
            password=INSPECTOR[1],
            role="inspector",
            counties=["410781"],
            display_name="卫辉核查员",
        )
        users.add_user(session, username=ADMIN[0], password=ADMIN[1], role="admin")
    engine.dispose()
    port = _free_port()
    rebuild = Path(sys.executable).parent / "rebuild"
    env = {
        **os.environ,
        "REBUILD_DATABASE_URL": url,
        "REBUILD_MEDIA_DIR": str(tmp_path_factory.mktemp("media")),
    }
    # The log goes to a file, not a pipe: a pipe nobody reads fills up and stalls the server.
    log = tmp_path_factory.mktemp("server") / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [rebuild, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, f"server exited:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("the server did not answer /healthz within 60 s")
        yield Live(base, asset_id, INSPECTOR, ADMIN)
    finally:
        server.terminate()
        server.wait(timeout=30)
        databases.drop(name)
