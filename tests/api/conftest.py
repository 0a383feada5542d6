"""HTTP clients whose requests run inside the test's rolled-back transaction, and the people
who make them: one account per role, committed once per test session."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.deps import get_session
from api.main import create_app
from gis import db, users
from gis.settings import Settings

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
    app = create_app(app_settings)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_client(client: TestClient, people: dict[str, Person]) -> TestClient:
    """The client, logged in as an administrator (sees everything, personal fields included)."""
    client.headers.update(people["admin"].headers)
    return client
