"""Browser tests: Debian's Chromium driven by Playwright against a live server on 127.0.0.1.

Never skipped: without /usr/bin/chromium they fail and say how to install it (``make test``
does, as root). ``playwright install`` is not used: it downloads a browser build, which an
intranet machine or this CI cannot.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy.orm import Session

from gis import users
from gis.assets import create_asset
from tests.conftest import Databases, test_db_name
from tests.live import live_server
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
    """A served database with houses in 卫辉市 (one per test that reports, by code), an
    inspector of that county, and an administrator."""

    base: str
    assets: dict[str, int]  # code -> id
    inspector: tuple[str, str]  # username, password
    admin: tuple[str, str]


INSPECTOR = ("weihui-inspector", "inspect-weihui-2022")
ADMIN = ("city-admin", "admin-xinxiang-2022")
HOUSES = [replace(WEIHUI_HOUSE, code=f"FW-410781-9000{n}") for n in range(1, 6)]


@pytest.fixture(scope="module")
def live(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    assets: dict[str, int] = {}

    def seed(session: Session) -> None:
        for house in HOUSES:
            assets[house.code] = create_asset(session, asset_in=house)
        users.add_user(
            session,
            username=INSPECTOR[0],
            password=INSPECTOR[1],
            role="inspector",
            counties=["410781"],
            display_name="卫辉核查员",
        )
        users.add_user(session, username=ADMIN[0], password=ADMIN[1], role="admin")

    home = tmp_path_factory.mktemp("home")
    with live_server(databases, test_db_name("_browser"), home=home, seed=seed) as base:
        yield Live(base, assets, INSPECTOR, ADMIN)
