"""Progress as of a date, counted by hand on a small data set.

Rule houses_general_repair (data/deadlines.toml): general repairs completed by 2021-10-31.
卫辉市 has four such houses, 辉县市 one:
  H1 completed 2021-10-01;
  H2 started 2021-09-01, completed 2021-10-25;
  H3 completed 2021-10-20, but that report was rejected by a manager;
  H4 no report;
  H5 (辉县市) completed 2021-11-05, after the due date.
"""

import datetime as dt
import hashlib
import json
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import progress_lists
from gis.access import ANONYMOUS, Principal
from gis.assets import create_asset
from gis.dated_report import write_report
from gis.errors import Forbidden, InvalidInput
from gis.progress import progress, reached_on
from tests.plans import generic_and_custom, prefer_generic_plans
from tests.progress_samples import event
from tests.samples import IN_WEIHUI, WEIHUI_HOUSE

CITY = Principal(1, "city", "city", "viewer", None)
RULE = "houses_general_repair"


def _rows(session: Session, day: str, principal: Principal = CITY, **kw) -> dict:
    table = progress(session, principal=principal, as_of=dt.date.fromisoformat(day), **kw)
    return {row.county_adcode: row for row in table if row.rule == RULE}


def test_before_the_due_date(session: Session, houses: dict[str, int]) -> None:
    rows = _rows(session, "2021-10-27")
    weihui, huixian, city = rows["410781"], rows["410782"], rows[None]
    assert (weihui.total, weihui.reached, weihui.percent) == (4, 2, 50.0)
    assert weihui.county_zh == "卫辉市"
    assert weihui.days_left == 4
    assert weihui.required_per_day == 0.5  # 2 left in 4 days
    assert weihui.recent_per_day == round(1 / 14, 2)  # H2 reached it within the last 14 days
    assert weihui.projected_finish == dt.date(2021, 10, 27) + dt.timedelta(days=28)
    assert weihui.status == "at_risk"
    assert (huixian.total, huixian.reached, huixian.status) == (1, 0, "at_risk")  # H5 later
    assert huixian.projected_finish is None  # nothing moved in 14 days
    assert (city.total, city.reached, city.percent) == (5, 2, 40.0)
    assert (weihui.size_unit, weihui.size_total, weihui.size_reached) == ("households", 4, 2)


def test_after_the_due_date(session: Session, houses: dict[str, int]) -> None:
    rows = _rows(session, "2021-11-10")
    assert (rows["410781"].reached, rows["410781"].status) == (2, "overdue")  # H3 rejected
    assert (rows["410782"].reached, rows["410782"].status) == (1, "done")
    assert rows["410782"].required_per_day == 0.0
    assert rows[None].reached == 3


def test_a_report_after_the_day_never_changes_it(session: Session, houses: dict[str, int]) -> None:
    before = _rows(session, "2021-10-24")["410781"]
    assert before.reached == 1  # H2 completed on the 25th
    event(session, houses["H4"], "completed", 100, "2021-10-30")
    assert _rows(session, "2021-10-24")["410781"] == before


def test_on_track_when_the_recent_rate_suffices(session: Session, houses: dict[str, int]) -> None:
    for house, day in (("H3", "2021-10-03"), ("H4", "2021-10-04")):
        event(session, houses[house], "completed", 100, day)
    weihui = _rows(session, "2021-10-05")["410781"]
    # H1, H3, H4 reached it within 14 days: 3/14 a day; H2 remains: 5 days, by 10-10.
    assert (weihui.reached, weihui.recent_per_day) == (3, round(3 / 14, 2))
    assert weihui.projected_finish == dt.date(2021, 10, 10)
    assert weihui.status == "on_track"
    event(session, houses["H2"], "completed", 100, "2021-10-05")
    assert _rows(session, "2021-10-05")["410781"].status == "done"


def test_county_scope(session: Session, houses: dict[str, int]) -> None:
    weihui_only = Principal(2, "i", "i", "inspector", frozenset({"410781"}))
    rows = _rows(session, "2021-11-10", principal=weihui_only)
    assert set(rows) == {"410781", None} and rows[None].total == 4
    with pytest.raises(Forbidden):
        _rows(session, "2021-11-10", principal=weihui_only, county="410782")
    assert set(_rows(session, "2021-11-10", county="410782")) == {"410782", None}


@pytest.mark.parametrize(("day", "words"), [("2021-07-01", "早于灾害"), ("2999-01-01", "将来")])
def test_dates_outside_the_record_are_refused(session: Session, day: str, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _rows(session, day)
    assert words in refused.value.zh and refused.value.field == "as_of"


def test_unknown_layer(session: Session) -> None:
    with pytest.raises(InvalidInput):
        progress(session, principal=ANONYMOUS, as_of=dt.date(2022, 1, 1), layer="bridges")


def test_overdue_assets(session: Session, houses: dict[str, int]) -> None:
    from gis.progress_lists import overdue

    day = dt.date(2021, 11, 10)
    late = [r for r in overdue(session, principal=CITY, as_of=day) if r["rule"] == RULE]
    assert {r["id"] for r in late} == {houses["H3"], houses["H4"]}  # H3's report was rejected
    h3 = next(r for r in late if r["id"] == houses["H3"])
    assert (h3["days_overdue"], h3["stage"], h3["county_zh"]) == (10, "not_started", "卫辉市")
    assert overdue(session, principal=CITY, as_of=dt.date(2021, 10, 30)) == []  # not due yet


def test_overdue_pages_run_across_rules(session: Session, houses: dict[str, int]) -> None:
    from gis.progress_lists import overdue

    rebuild = create_asset(
        session,
        asset_in=replace(
            WEIHUI_HOUSE, code="FW-410781-61000", kind="self_rebuild", geometry=IN_WEIHUI
        ),
    )  # due 2021-11-30 (houses_self_rebuild), never reported
    day = dt.date(2021, 12, 5)
    whole = overdue(session, principal=CITY, as_of=day)
    # The rule due first, then by county and id; H5 (辉县市) completed on 11-05, late but done.
    assert [(r["rule"], r["id"]) for r in whole] == [
        (RULE, houses["H3"]),
        (RULE, houses["H4"]),
        ("houses_self_rebuild", rebuild),
    ]
    assert [r["days_overdue"] for r in whole] == [35, 35, 5]
    pages = [overdue(session, principal=CITY, as_of=day, limit=2, offset=n) for n in (0, 2, 4)]
    assert [len(p) for p in pages] == [2, 1, 0]
    assert pages[0] + pages[1] == whole
    assert overdue(session, principal=CITY, as_of=day, offset=1, limit=1) == whole[1:2]


def test_stale_assets(session: Session, houses: dict[str, int]) -> None:
    from gis.progress_lists import stale

    day = dt.date(2021, 10, 27)
    silent = stale(session, principal=CITY, as_of=day, days=30)
    # H4 and H3 (its only report rejected) never reported; H5's report is after the day;
    # H1 and H2 are completed; nobody unfinished reported more than 30 days ago.
    assert {r["id"] for r in silent} == {houses["H3"], houses["H4"], houses["H5"]}
    assert all(r["last_report"] is None for r in silent)
    event(session, houses["H4"], "started", 10, "2021-09-01")
    older = stale(session, principal=CITY, as_of=day, days=30)
    h4 = next(r for r in older if r["id"] == houses["H4"])
    assert h4["days_since"] == 56 and older[-1]["id"] == houses["H4"]
    assert houses["H4"] not in {r["id"] for r in stale(session, principal=CITY, as_of=day, days=60)}


def test_money_against_progress(session: Session, houses: dict[str, int]) -> None:
    from gis.progress_lists import money

    funds = {"H1": (10, 2), "H2": (10, 10), "H4": (20, 18)}  # planned, secured (万元)
    for house, (planned, secured) in funds.items():
        session.execute(
            text(
                "UPDATE assets SET planned_investment_wan = :p, funds_secured_wan = :s "
                "WHERE id = :a"
            ),
            {"p": planned, "s": secured, "a": houses[house]},
        )
    result = money(session, principal=CITY, as_of=dt.date(2021, 10, 27))
    weihui = next(r for r in result["counties"] if r["county_adcode"] == "410781")
    assert next(r for r in result["totals"] if r["layer"] == "houses")["assets"] == 5
    assert (weihui["assets"], weihui["planned_wan"], weihui["secured_wan"]) == (4, 40, 30)
    assert weihui["mean_percent_done"] == 50.0  # H1 100, H2 100, H3 0 (rejected), H4 0
    assert [r["id"] for r in result["money_ahead"]] == [houses["H4"]]  # 90 % funded, 0 % done
    assert [r["id"] for r in result["progress_ahead"]] == [houses["H1"]]  # done, 20 % funded
    earlier = money(session, principal=CITY, as_of=dt.date(2021, 9, 15))
    assert houses["H2"] in {r["id"] for r in earlier["money_ahead"]}  # 40 % done then
    with pytest.raises(InvalidInput):
        money(session, principal=CITY, as_of=dt.date(2021, 10, 27), gap=0)


def test_a_dated_report_gives_the_same_numbers_later(
    session: Session, houses: dict[str, int], tmp_path
) -> None:
    day = dt.date(2021, 10, 27)
    first = write_report(session, principal=CITY, as_of=day, folder=tmp_path / "a")
    event(session, houses["H4"], "completed", 100, "2021-11-02")  # after the day
    again = write_report(session, principal=CITY, as_of=day, folder=tmp_path / "b")
    assert first["numbers_sha256"] == again["numbers_sha256"]
    assert set(first["files"]) == {"progress-2021-10-27.xlsx", "progress-2021-10-27.csv"}
    on_disk = json.loads((tmp_path / "a" / "manifest-2021-10-27.json").read_text())
    assert on_disk["numbers_sha256"] == first["numbers_sha256"]
    xlsx = (tmp_path / "a" / "progress-2021-10-27.xlsx").read_bytes()
    assert hashlib.sha256(xlsx).hexdigest() == first["files"]["progress-2021-10-27.xlsx"]
    later = write_report(session, principal=CITY, as_of=dt.date(2021, 11, 3), folder=tmp_path)
    assert later["numbers_sha256"] != first["numbers_sha256"]
    assert first["history"] == again["history"]  # the later report is not part of D's history


def test_a_dated_report_says_when_its_day_s_history_changed(
    session: Session, houses: dict[str, int], tmp_path
) -> None:
    day = dt.date(2021, 10, 27)
    first = write_report(session, principal=CITY, as_of=day, folder=tmp_path / "a")
    # H1, H2 (two), H3 (rejected, so not counting): three counting reports, one review.
    assert (first["history"]["counting_reports"], first["history"]["reviews"]) == (3, 1)
    event(session, houses["H4"], "completed", 100, "2021-10-26")  # observed by D, sent late
    again = write_report(session, principal=CITY, as_of=day, folder=tmp_path / "b")
    assert again["numbers_sha256"] != first["numbers_sha256"]
    assert again["history"]["counting_reports"] == 4
    assert again["history"]["reports_received_until"] >= first["history"]["reports_received_until"]


DAYS = [dt.date(2021, 10, 1) + dt.timedelta(days=n) for n in range(0, 120, 10)]
ASKED = {
    "progress": lambda s, day: progress(s, principal=CITY, as_of=day),
    "reached_on": lambda s, day: reached_on(s, principal=CITY, days=[day, day + dt.timedelta(1)]),
    "overdue": lambda s, day: progress_lists.overdue(s, principal=CITY, as_of=day),
    "stale": lambda s, day: progress_lists.stale(s, principal=CITY, as_of=day, days=30),
    "money": lambda s, day: progress_lists.money(s, principal=CITY, as_of=day),
}


@pytest.mark.parametrize("asked", ASKED)
def test_each_day_gets_a_plan_of_its_own(
    session: Session, houses: dict[str, int], asked: str
) -> None:
    """Once a statement has run five times on a connection psycopg prepares it, and PostgreSQL
    may then keep one generic plan for every day and filter: at a million houses that made
    /progress 6 times and /progress/overdue twice as slow. Told to prefer generic plans, as it
    may decide on its own, PostgreSQL must still plan these for each day."""
    generic, custom = generic_and_custom(session)
    prefer_generic_plans(session)
    for day in DAYS:
        ASKED[asked](session, day)
    generic_after, custom_after = generic_and_custom(session)
    assert generic_after == generic
    assert custom_after > custom
