"""The dashboard and the map pages over HTTP: logins, county scope, bad input in the project's
error shape, and `rebuild map` writing one self-contained file. Who may call each route is also
in tests/api/test_authorization.py (MATRIX)."""

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app
from tests.api.conftest import Person

DAY = "2021-11-01"  # see tests/progress_samples.py: 卫辉 2 of 4 general repairs done, overdue
ERROR_KEYS = {"error", "message", "message_en", "field"}
EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)
BROWSER = {"sec-fetch-mode": "navigate", "accept": "text/html,application/xhtml+xml"}


def get(client: TestClient, people: dict[str, Person], who: str, url: str):
    return client.get(url, headers=people[who].headers)


@pytest.mark.parametrize(
    "url",
    [
        f"/?as_of={DAY}",
        f"/?as_of={DAY}&lang=en",
        f"/maps/overview?as_of={DAY}",
        f"/maps/overview?as_of={DAY}&layer=roads&lang=en",
        f"/maps/houses?as_of={DAY}",
        f"/maps/water_works?as_of={DAY}&status=overdue",
        f"/maps/roads?as_of={DAY}&county=410781&kind=village_road&stage=started",
    ],
)
def test_pages_are_html_linking_to_no_other_site(
    client: TestClient, people: dict[str, Person], houses: dict[str, int], url: str
) -> None:
    answer = get(client, people, "viewer", url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "private, no-store"
    assert not EXTERNAL.findall(answer.text)


def test_the_dashboard_shows_the_city_and_its_counties_against_the_deadlines(
    client: TestClient, people: dict[str, Person], houses: dict[str, int]
) -> None:
    page = get(client, people, "viewer", f"/?as_of={DAY}").text
    rule = page.split('data-rule="houses_general_repair"')[1].split("</details>")[0]
    assert "一般损坏房屋完成加固修缮" in rule and "2 / 5 (40.0%)" in rule and "已逾期" in rule
    weihui = rule.split('data-county="410781"')[1].split("</tr>")[0]
    assert "卫辉市" in weihui and "2 / 4" in weihui
    for link in (
        "/maps/houses?as_of=2021-11-01",
        "/maps/overview?as_of=2021-11-01&amp;layer=houses",
        "/exports/progress.xlsx?as_of=2021-11-01",
        "/exports/progress.csv?as_of=2021-11-01",
        "/exports/progress.zip?as_of=2021-11-01",
        "/reports/progress?as_of=2021-11-01",
        'href="/docs"',
        "/?as_of=2021-10-01",  # a month before
    ):
        assert link in page, link
    english = get(client, people, "viewer", f"/?as_of={DAY}&lang=en").text
    assert "Generally damaged houses repaired" in english and 'lang="en"' in english
    assert "/maps/houses?as_of=2021-11-01&amp;lang=en" in english


def test_county_people_see_their_county_only(
    client: TestClient, people: dict[str, Person], houses: dict[str, int]
) -> None:
    page = get(client, people, "inspector_weihui", f"/maps/houses?as_of={DAY}").text
    assert "FW-410781-60000" in page and "FW-410782-60000" not in page
    dashboard = get(client, people, "inspector_weihui", f"/?as_of={DAY}").text
    assert 'data-county="410781"' in dashboard and 'data-county="410782"' not in dashboard
    refused = get(client, people, "inspector_weihui", f"/maps/houses?as_of={DAY}&county=410782")
    assert refused.status_code == 403 and refused.json()["field"] == "county_adcode"
    admin = get(client, people, "admin", f"/maps/houses?as_of={DAY}").text
    assert "FW-410782-60000" in admin and "张某" not in admin  # never personal fields


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/maps/bridges", 404, "layer"),
        ("/maps/overview?layer=bridges", 404, "layer"),
        ("/maps/overview?layer=houses&rule=roads_completed", 422, "rule"),
        ("/maps/overview?rule=no_such_rule", 422, "rule"),
        ("/maps/houses?kind=levee", 422, "kind"),
        ("/maps/houses?stage=finished", 422, "stage"),
        ("/maps/houses?status=late", 422, "status"),
        ("/maps/houses?county=999999", 422, "county"),
        ("/maps/houses?county=weihui", 422, "county"),
        ("/maps/houses?as_of=2022-13-01", 422, "as_of"),
        ("/maps/houses?as_of=2021-07-01", 422, "as_of"),
        ("/maps/houses?as_of=2999-01-01", 422, "as_of"),
        ("/maps/houses?lang=fr", 422, "lang"),
        ("/maps/overview?as_of=yesterday", 422, "as_of"),
        ("/?as_of=2021-02-30", 422, "as_of"),
    ],
)
def test_bad_input_is_refused_in_the_projects_shape(
    client: TestClient, people: dict[str, Person], url: str, status: int, field: str
) -> None:
    answer = get(client, people, "viewer", url)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body.keys() >= ERROR_KEYS and body["field"] == field
    assert body["message"] and body["message_en"]


@pytest.mark.parametrize("url", ["/", "/maps/overview", "/maps/roads?as_of=2022-01-01"])
def test_a_browser_without_a_login_is_sent_to_the_login_page(client: TestClient, url: str) -> None:
    answer = client.get(url, headers=BROWSER, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=%2F")


def test_rebuild_map_writes_one_file_that_needs_no_server(
    database_url: str, tmp_path: Path
) -> None:
    env = {"REBUILD_DATABASE_URL": database_url}
    runner = CliRunner()
    overview = tmp_path / "overview.html"
    result = runner.invoke(app, ["map", "--as-of", "2022-05-31", "-o", str(overview)], env=env)
    assert result.exit_code == 0, result.output
    roads = tmp_path / "roads.html"
    result = runner.invoke(
        app, ["map", "--layer", "roads", "--county", "410781", "-o", str(roads)], env=env
    )
    assert result.exit_code == 0, result.output
    for path in (overview, roads):
        page = path.read_text(encoding="utf-8")
        assert "<script src=" not in page and 'rel="stylesheet"' not in page
        assert "RebuildMaps.configure(" in page and "L.map(" in page
    bad = runner.invoke(app, ["map", "--layer", "roads", "--stage", "x", "-o", str(roads)], env=env)
    assert bad.exit_code == 1 and "阶段 'x' 不存在" in bad.output
