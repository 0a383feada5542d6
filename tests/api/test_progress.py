"""GET /progress and `rebuild progress`: the engine's table over HTTP and on the terminal."""

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app
from tests.api.conftest import Person

RULE = "houses_general_repair"


def test_progress_as_of_a_date(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    answer = client.get("/progress?as_of=2021-11-10", headers=people["viewer"].headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["as_of"] == "2021-11-10" and body["recent_days"] == 14
    rows = {r["county_adcode"]: r for r in body["counties"] if r["rule"] == RULE}
    assert (rows["410781"]["reached"], rows["410781"]["status"]) == (2, "overdue")
    assert (rows["410782"]["reached"], rows["410782"]["status"]) == (1, "done")
    total = next(t for t in body["totals"] if t["rule"] == RULE)
    assert (total["total"], total["reached"]) == (5, 3) and "county_adcode" not in total


def test_progress_follows_the_county_scope(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    inspector = people["inspector_weihui"].headers
    body = client.get("/progress?as_of=2021-11-10", headers=inspector).json()
    assert {r["county_adcode"] for r in body["counties"]} == {"410781"}
    assert next(t for t in body["totals"] if t["rule"] == RULE)["total"] == 4
    refused = client.get("/progress?county=410782", headers=inspector)
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [("as_of=2021-02-30", "as_of"), ("as_of=2020-01-01", "as_of"), ("layer=bridges", "layer")],
)
def test_bad_questions(
    client: TestClient, people: dict[str, Person], query: str, field: str
) -> None:
    answer = client.get(f"/progress?{query}", headers=people["viewer"].headers)
    assert answer.status_code == 422 and answer.json()["field"] == field


def test_cli_table(database_url: str) -> None:
    env = {"REBUILD_DATABASE_URL": database_url}
    result = CliRunner().invoke(app, ["progress", "--as-of", "2022-05-31"], env=env)
    assert result.exit_code == 0, result.output
    assert "重建进度（截至 2022-05-31）" in result.output and "完成率" in result.output
    bad = CliRunner().invoke(app, ["progress", "--as-of", "31/05/2022"], env=env)
    assert bad.exit_code == 1 and "YYYY-MM-DD" in bad.output
    early = CliRunner().invoke(app, ["progress", "--as-of", "2021-01-01"], env=env)
    assert early.exit_code == 1 and "早于灾害" in early.output


def test_overdue_and_stale_lists(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    manager = people["manager_weihui"].headers
    late = client.get("/progress/overdue?as_of=2021-11-10", headers=manager).json()
    assert {a["id"] for a in late["assets"] if a["rule"] == RULE} == {houses["H3"], houses["H4"]}
    assert all(a["county_adcode"] == "410781" for a in late["assets"])
    assert all("householder_name" not in a for a in late["assets"])
    silent = client.get("/progress/stale?as_of=2021-10-27", headers=manager).json()
    assert silent["days"] == 30  # REBUILD_STALE_DAYS
    assert {a["id"] for a in silent["assets"]} == {houses["H3"], houses["H4"]}
    refused = client.get("/progress/stale?county=410782", headers=manager)
    assert refused.status_code == 403


def test_money(
    client: TestClient,
    people: dict[str, Person],
    houses: dict[str, int],
) -> None:
    body = client.get(
        "/progress/money?as_of=2021-10-27&gap=20", headers=people["manager_hongqi"].headers
    ).json()
    assert body["gap"] == 20 and "no history" in body["funds_note"]
    assert {r["county_adcode"] for r in body["counties"]} <= {"410702"}
    assert body["money_ahead"] == [] and body["progress_ahead"] == []
    bad = client.get("/progress/money?gap=0", headers=people["viewer"].headers)
    assert bad.status_code == 422 and bad.json()["field"] == "gap"


def test_cli_dated_report(database_url: str, tmp_path) -> None:
    env = {"REBUILD_DATABASE_URL": database_url}
    out = tmp_path / "2022-05-31"
    result = CliRunner().invoke(app, ["report", "--as-of", "2022-05-31", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest-2022-05-31.json", "progress-2022-05-31.csv", "progress-2022-05-31.xlsx",
    ]  # fmt: skip


def test_printable_report_with_burn_up_charts(
    client: TestClient, people: dict[str, Person], houses: dict[str, int]
) -> None:
    import re

    page = client.get("/reports/progress?as_of=2021-11-10", headers=people["viewer"].headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "新乡市灾后重建进度报告（截至 2021-11-10）" in html
    assert "<svg" in html and "截止 2021-10-31" in html and "总数 5" in html
    assert "@page { size: A4 landscape" in html
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", html)
    assert not external  # prints and works with no internet
    weihui = client.get(
        "/reports/progress?as_of=2021-11-10&county=410781", headers=people["viewer"].headers
    ).text
    assert "总数 4" in weihui
