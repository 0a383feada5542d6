"""Deadline rules through the API: read by all, changed by administrators, every change kept."""

from fastapi.testclient import TestClient

from tests.api.conftest import Person

RULE = "houses_general_repair"


def test_rules_are_listed_with_their_due_dates(
    client: TestClient, people: dict[str, Person]
) -> None:
    body = client.get("/deadlines", headers=people["inspector_weihui"].headers).json()
    rules = {r["rule"]: r for r in body["rules"]}
    assert rules[RULE]["due_on"] == "2021-10-31" and rules[RULE]["stage"] == "completed"
    assert rules["water_completed"]["due_milestone"] == "flood_season_start"
    assert rules["water_completed"]["due_on"] == "2022-05-31"
    assert body["milestones"][0]["name"] == "flood_season_start"


def test_an_administrator_changes_a_rule_and_the_change_is_kept(
    client: TestClient, people: dict[str, Person]
) -> None:
    admin = people["admin"].headers
    changed = client.put(f"/deadlines/{RULE}", json={"due": "2021-11-15"}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["due_on"] == "2021-11-15"
    to_milestone = client.put(
        f"/deadlines/{RULE}", json={"due": "flood_season_start"}, headers=admin
    )
    assert to_milestone.json()["due_on"] == "2022-05-31"
    history = client.get(f"/deadlines/changes?rule={RULE}", headers=admin).json()["changes"]
    latest, earlier = history[0], history[1]
    assert (latest["changed_by"], latest["changed_via"]) == ("admin", "api")
    assert latest["before"]["due_date"] == "2021-11-15"
    assert latest["after"]["due_milestone"] == "flood_season_start"
    assert earlier["before"]["due_on"] == "2021-10-31"
    progress = client.get("/progress?as_of=2021-11-20", headers=admin).json()
    assert all(t["due_on"] == "2022-05-31" for t in progress["totals"] if t["rule"] == RULE)


def test_only_administrators_change_rules(client: TestClient, people: dict[str, Person]) -> None:
    for who in ("viewer", "manager_weihui", "inspector_weihui"):
        refused = client.put(
            f"/deadlines/{RULE}", json={"due": "2022-01-01"}, headers=people[who].headers
        )
        assert refused.status_code == 403, who
    assert client.put(f"/deadlines/{RULE}", json={"due": "2022-01-01"}).status_code == 401


def test_bad_changes_say_what_to_fix_and_change_nothing(
    client: TestClient, people: dict[str, Person]
) -> None:
    admin = people["admin"].headers
    for body, field in (
        ({"due": "2021-07-01"}, "due"),  # before the disaster
        ({"due": "next_spring"}, "due"),  # no such milestone
        ({"stage": "finished"}, "stage"),
        ({"layer": "roads"}, "layer"),  # not editable
    ):
        answer = client.put(f"/deadlines/{RULE}", json=body, headers=admin)
        assert answer.status_code == 422, body
        assert answer.json()["field"] == field, answer.json()
    assert client.put("/deadlines/no_such_rule", json={}, headers=admin).status_code == 404
    history = client.get(f"/deadlines/changes?rule={RULE}", headers=admin).json()["changes"]
    assert all(c["changed_via"] == "cli" for c in history)  # only the load of the file
