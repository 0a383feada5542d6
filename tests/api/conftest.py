"""An HTTP client whose requests run inside the test's rolled-back transaction."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.deps import get_session
from api.main import create_app
from gis.settings import Settings


@pytest.fixture
def client(database_url: str, session: Session, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"database_url": database_url}))
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as test_client:
        yield test_client
