"""HTTP clients whose requests run inside the test's rolled-back transaction, and the people
who make them: one account per role, committed once per test session."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.deps import Download, get_download, get_session
from api.main import create_app
from gis import db, provision, users
from gis.settings import Settings
from tests.conftest import Databases, test_db_name

WEIHUI, HONGQI = "410781", "410702"

# name -> (role, counties)
PEOPLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("admin", ()),
    "viewer": ("viewer", ()),
    "manager_weihui": ("manager", (WEIHUI,)),
    "inspector_weihui": ("inspector", (WEIHUI,)),
    "inspector_hongqi": ("inspector", (HONGQI,)),
    "manager_hongqi": ("manager", (HONGQI,)),
    "manager_weihui_2": ("manager", (WEIHUI,)),
}
PASSWORD = "test-password-1"


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    counties: tuple[str, ...]
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def people(engine: Engine) -> dict[str, Person]:
    """One account per role (and a second county), with a bearer token each; committed."""
    made = {}
    with db.transaction(engine) as session:
        for name, (role, counties) in PEOPLE.items():
            username = name.replace("_", "-")
            user_id = users.add_user(
                session, username=username, password=PASSWORD, role=role, counties=counties
            )
            token, _ = users.issue_token(session, user_id=user_id, kind="bearer", hours=2)
            made[name] = Person(username, role, counties, user_id, token)
    return made


@pytest.fixture
def app_settings(database_url: str, settings: Settings, tmp_path) -> Settings:
    return settings.model_copy(
        update={"database_url": database_url, "media_dir": tmp_path / "media"}
    )


@pytest.fixture
def client(app_settings: Settings, session: Session) -> Iterator[TestClient]:
    def download_in_the_test() -> Iterator[Download]:
        # A layer download reads the test's transaction too, not a snapshot of its own
        # (tests/api/test_layer_exports.py tests those, on committed data).
        download = Download(lambda: nullcontext(session))
        try:
            yield download
        finally:
            download.close()

    app = create_app(app_settings)
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[get_download] = download_in_the_test
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_client(client: TestClient, people: dict[str, Person]) -> TestClient:
    """The client, logged in as an administrator (sees everything, personal fields included)."""
    client.headers.update(people["admin"].headers)
    return client


# --- Databases that the code under test commits to ------------------------------------------------


@contextmanager
def migrated_database(databases: Databases, settings: Settings, suffix: str) -> Iterator[str]:
    """A migrated database with counties and deadlines and no assets, of this test process's
    own (never the shared test database); dropped afterwards (the cached engine disposed)."""
    name = test_db_name(suffix)
    url = databases.create(name)
    db.migrate(url)
    provision.load_reference(db.make_engine(url), settings)
    try:
        yield url
    finally:
        db.make_engine(url).dispose()
        databases.drop(name)


@pytest.fixture(scope="module")
def own_url(
    request: pytest.FixtureRequest, databases: Databases, settings: Settings
) -> Iterator[str]:
    """A migrated database of the test module's own, for imports that commit, with a few
    accounts (a manager and an inspector of 卫辉市, a disabled administrator)."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test")
    with migrated_database(databases, settings, module) as url:
        engine = db.make_engine(url)
        with db.transaction(engine) as session:
            for username, role, counties in (
                ("manager-weihui", "manager", (WEIHUI,)),
                ("inspector-weihui", "inspector", (WEIHUI,)),
                ("gone", "admin", ()),
            ):
                users.add_user(
                    session, username=username, password=PASSWORD, role=role, counties=counties
                )
            users.disable_user(session, "gone")
        yield url


@pytest.fixture(scope="module")
def own_engine(own_url: str) -> Engine:
    return db.make_engine(own_url)


# The sessions a connection of the test's own (by its backend pid) holds up with its locks.
BLOCKED_BY = "SELECT pid, query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"


def conninfo(url: str) -> str:
    """A SQLAlchemy URL as psycopg's connection string, for connections of the test's own."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def wait_for(what: str, seconds: float, check: Callable[[], Any]) -> Any:
    """``check()``'s first truthy answer, asked every 50 ms for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what} after {seconds} s")
