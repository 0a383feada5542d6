"""Managers review reports: confirm, or reject so the report stops counting."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.assets import create_asset
from tests.api.conftest import Person
from tests.api.test_reports import HERE, ago, photo, report, state
from tests.samples import WEIHUI_HOUSE


@pytest.fixture
def house(session: Session) -> int:
    return create_asset(session, asset_in=WEIHUI_HOUSE)


@pytest.fixture
def two_reports(client: TestClient, people: dict[str, Person], house: int) -> list[str]:
    """preparatory_done two days ago, then started 40 % a day ago, far from the house."""
    inspector = people["inspector_weihui"]
    first = report(client, inspector, house, stage="preparatory_done", percent=0,
                   observed_at=ago(2))  # fmt: skip
    far = {**HERE, "lon": HERE["lon"] + 0.02}
    second = report(client, inspector, house, stage="started", percent=40, location=far,
                    photos=[photo(client, inspector)], observed_at=ago(1))  # fmt: skip
    assert second.json()["report"]["flags"] == ["far_away"]
    return [first.json()["report"]["id"], second.json()["report"]["id"]]


def review(client: TestClient, person: Person, report_id: str, decision: str, note: str = ""):
    return client.post(
        f"/reports/{report_id}/review",
        json={"decision": decision, "note": note},
        headers=person.headers,
    )


def test_rejecting_a_report_falls_back_to_the_one_before(
    client: TestClient, people: dict[str, Person], session: Session, house: int, two_reports
) -> None:
    assert state(session, house) == ("started", 40, 3)
    response = review(client, people["manager_weihui"], two_reports[1], "rejected", "位置不符")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state_changed"] is True
    assert body["report"]["review"]["decision"] == "rejected"
    assert body["report"]["review"]["reviewer"] == "manager-weihui"
    assert body["report"]["counts"] is False
    assert state(session, house) == ("preparatory_done", 0, 4)
    history = client.get(f"/assets/{house}/history", headers=people["viewer"].headers).json()
    assert [e["counts"] for e in history["events"]] == [False, True]  # it stays in the history


def test_confirming_changes_nothing_but_the_review(
    client: TestClient, people: dict[str, Person], session: Session, house: int, two_reports
) -> None:
    response = review(client, people["manager_weihui"], two_reports[1], "confirmed")
    assert response.status_code == 200 and response.json()["state_changed"] is False
    assert state(session, house) == ("started", 40, 3)
    pending = client.get(
        "/reports?flagged=true&review=pending", headers=people["manager_weihui"].headers
    ).json()["reports"]
    assert pending == []


def test_confirming_a_held_conflict_makes_it_count(
    client: TestClient, people: dict[str, Person], session: Session, house: int
) -> None:
    inspector, pic = people["inspector_weihui"], photo(client, people["inspector_weihui"])
    report(client, inspector, house, stage="started", percent=30, photos=[pic], location=HERE,
           observed_at=ago(1))  # fmt: skip
    held = report(client, inspector, house, stage="completed", percent=100, photos=[pic],
                  location=HERE, observed_at=ago(hours=1))  # fmt: skip
    assert held.status_code == 201  # newer, forward: applied, not held
    late = report(client, inspector, house, stage="accepted", percent=100, photos=[pic],
                  location=HERE, observed_at=ago(3))  # fmt: skip
    assert late.status_code == 409
    review(client, people["manager_weihui"], late.json()["report"]["id"], "confirmed")
    assert state(session, house)[:2] == ("completed", 100)  # still the newest counting one


def test_who_may_review(
    client: TestClient, people: dict[str, Person], session: Session, two_reports
) -> None:
    for who, status in (
        ("inspector_weihui", 403),  # inspectors report, managers review
        ("viewer", 403),
        ("manager_hongqi", 403),  # another county
    ):
        response = review(client, people[who], two_reports[1], "rejected")
        assert response.status_code == status, who
        assert response.json()["error"] == "forbidden"
    assert session.execute(text("SELECT count(*) FROM report_reviews")).scalar_one() == 0
    assert review(client, people["admin"], two_reports[1], "confirmed").status_code == 200


def test_a_review_is_final(client: TestClient, people: dict[str, Person], two_reports) -> None:
    assert review(client, people["manager_weihui"], two_reports[1], "confirmed").status_code == 200
    again = review(client, people["manager_weihui_2"], two_reports[1], "rejected")
    assert again.status_code == 409 and "已审核" in again.json()["message"]


def test_nobody_reviews_their_own_report(
    client: TestClient, people: dict[str, Person], house: int
) -> None:
    manager = people["manager_weihui"]
    own = report(client, manager, house, stage="preparatory_done", percent=0)
    response = review(client, manager, own.json()["report"]["id"], "confirmed")
    assert response.status_code == 403 and "自己" in response.json()["message"]


def test_unknown_report_and_bad_decision(
    client: TestClient, people: dict[str, Person], two_reports
) -> None:
    manager = people["manager_weihui"]
    assert review(client, manager, str(uuid.uuid4()), "confirmed").status_code == 404
    bad = review(client, manager, two_reports[1], "maybe")
    assert bad.status_code == 422 and bad.json()["field"] == "decision"


def test_flagged_reports_are_listed_for_the_countys_people(
    client: TestClient, people: dict[str, Person], two_reports
) -> None:
    def flagged(who: str) -> list[str]:
        response = client.get("/reports?flagged=true", headers=people[who].headers)
        return [r["id"] for r in response.json()["reports"]]

    assert flagged("manager_weihui") == [two_reports[1]]
    assert flagged("admin") == [two_reports[1]]
    assert flagged("manager_hongqi") == []
    everything = client.get("/reports", headers=people["manager_weihui"].headers).json()
    assert {r["id"] for r in everything["reports"]} == set(two_reports)
    other = client.get("/reports?county=410781", headers=people["manager_hongqi"].headers)
    assert other.status_code == 403
