"""POST /sync: offline reports in a batch, one answer each, never lost, never applied twice."""

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from tests.api.conftest import Person
from tests.samples import HONGQI_HOUSE, WEIHUI_HOUSE

NOW = dt.datetime.now(dt.UTC)


def at(days_ago: float) -> str:
    return (NOW - dt.timedelta(days=days_ago)).isoformat()


def item(asset_id: int, stage: str, percent: int, days_ago: float, **more) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "asset_id": asset_id,
        "base_version": 1,
        "stage": stage,
        "percent": percent,
        "observed_at": at(days_ago),
        **more,
    }


@pytest.fixture
def houses(session: Session) -> list[int]:
    """Three houses in 卫辉市 and one in 红旗区."""
    made = [
        create_asset(session, asset_in=WEIHUI_HOUSE.__class__(
            **{**WEIHUI_HOUSE.__dict__, "code": f"FW-410781-9100{n}"}
        ))
        for n in range(3)
    ]  # fmt: skip
    return [*made, create_asset(session, asset_in=HONGQI_HOUSE)]


def sync(client: TestClient, person: Person, reports: list[dict]):
    return client.post("/sync", json={"reports": reports}, headers=person.headers)


def count_events(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM asset_events")).scalar_one()


def test_every_report_gets_one_answer_in_order(
    client: TestClient, people: dict[str, Person], session: Session, houses: list[int]
) -> None:
    a, b, c, hongqi = houses
    batch = [
        item(a, "preparatory_done", 0, 3),  # applied after the next one, made earlier
        item(a, "not_started", 0, 4),  # applied first: a device's reports go in time order
        item(b, "preparatory_done", 0, 2),  # applied
        item(b, "not_started", 0, 1, reason="图纸被退回"),  # newer and back, with reason: applied
        item(c, "done", 100, 1),  # rejected: unknown stage
        item(hongqi, "preparatory_done", 0, 1),  # rejected: not the inspector's county
    ]
    response = sync(client, people["inspector_weihui"], batch)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == [r["id"] for r in batch]
    assert [r["status"] for r in results] == [
        "applied", "applied", "applied", "applied", "rejected", "rejected",
    ]  # fmt: skip
    assert results[3]["flags"] == ["backwards"]
    assert results[4]["field"] == "stage" and results[4]["message"]
    assert results[5]["error"] == "forbidden" and "410702" in results[5]["message"]
    assert count_events(session) == 4  # the rejected ones left nothing behind
    states = session.execute(
        text("SELECT id, stage, version FROM assets WHERE id = ANY(:ids) ORDER BY id"),
        {"ids": houses},
    ).all()
    assert [(s.stage, s.version) for s in states] == [
        ("preparatory_done", 3), ("not_started", 3), ("not_started", 1), ("not_started", 1),
    ]  # fmt: skip


def test_a_late_offline_report_joins_the_history_as_superseded(
    client: TestClient, people: dict[str, Person], session: Session, houses: list[int]
) -> None:
    house = houses[0]
    online = sync(client, people["manager_weihui"], [item(house, "preparatory_done", 0, 1)])
    assert online.json()["results"][0]["status"] == "applied"
    late = sync(client, people["inspector_weihui"], [item(house, "not_started", 0, 5)])
    result = late.json()["results"][0]
    assert result["status"] == "superseded" and result["version"] == 2
    assert result["current"]["properties"]["stage"] == "preparatory_done"
    assert count_events(session) == 2


def test_the_same_batch_ten_times_applies_each_report_once(
    client: TestClient, people: dict[str, Person], session: Session, houses: list[int]
) -> None:
    batch = [item(houses[0], "preparatory_done", 0, 2), item(houses[1], "preparatory_done", 0, 1)]
    first = sync(client, people["inspector_weihui"], batch).json()["results"]
    assert [r["status"] for r in first] == ["applied", "applied"]
    for _ in range(9):
        again = sync(client, people["inspector_weihui"], batch).json()["results"]
        assert [r["status"] for r in again] == ["duplicate", "duplicate"]
        assert [r["version"] for r in again] == [2, 2]
    assert count_events(session) == 2


def test_a_backward_move_by_a_device_that_missed_an_update_is_held_as_a_conflict(
    client: TestClient, people: dict[str, Person], session: Session, houses: list[int]
) -> None:
    """Someone else moved the house forward while this phone was offline; the phone's later
    observation says less. Without a reason it cannot apply, but it is not thrown away."""
    house = houses[0]
    assert sync(client, people["manager_weihui"], [item(house, "preparatory_done", 0, 2)])
    stale = item(house, "not_started", 0, 1, base_version=1)
    result = sync(client, people["inspector_weihui"], [stale]).json()["results"][0]
    assert result["status"] == "conflict"
    assert result["current"]["properties"]["stage"] == "preparatory_done"
    assert count_events(session) == 2
    same_view = item(house, "not_started", 0, 0.5, base_version=2)
    refused = sync(client, people["inspector_weihui"], [same_view]).json()["results"][0]
    assert refused["status"] == "rejected" and refused["field"] == "reason"


def test_a_bad_batch_is_refused_whole_with_the_reason(
    client: TestClient, people: dict[str, Person], session: Session, houses: list[int]
) -> None:
    inspector = people["inspector_weihui"]
    no_id = item(houses[0], "preparatory_done", 0, 1)
    del no_id["id"]
    response = sync(client, inspector, [no_id])
    assert response.status_code == 422 and response.json()["field"] == "reports.0.id"
    owned = item(houses[0], "preparatory_done", 0, 1, version=7)
    assert sync(client, inspector, [owned]).json()["field"] == "reports.0.version"
    assert count_events(session) == 0


def test_batches_are_bounded(
    client: TestClient, people: dict[str, Person], houses: list[int], app_settings
) -> None:
    many = [item(houses[0], "preparatory_done", 0, 1) for _ in range(1001)]
    response = sync(client, people["inspector_weihui"], many)
    assert response.status_code == 422 and "1000" in response.json()["message"]


def test_sync_needs_a_login_and_a_reporting_role(
    client: TestClient, people: dict[str, Person], houses: list[int]
) -> None:
    batch = [item(houses[0], "preparatory_done", 0, 1)]
    assert client.post("/sync", json={"reports": batch}).status_code == 401
    viewer = sync(client, people["viewer"], batch).json()["results"][0]
    assert viewer["status"] == "rejected" and viewer["error"] == "forbidden"
