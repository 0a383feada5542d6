"""An asset's status against its deadline rules as of a day (gis/asset_status.py), counted by
hand on tests/progress_samples.py: rule houses_general_repair, completed by 2021-10-31.

  H1 completed 2021-10-01; H2 started 2021-09-01, completed 2021-10-25; H3 completed
  2021-10-20 but rejected; H4 no report; H5 (辉县市) completed 2021-11-05.
"""

import datetime as dt
from dataclasses import replace

import pytest
from shapely.geometry import LineString
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.asset_status import ASSET_STATUSES, asset_status_sql, has_status_sql
from gis.assets import create_asset
from gis.progress import end_of, state_as_of
from tests.samples import WEIHUI_HOUSE

HAS_STATUS = has_status_sql("day", "status")

_AS_OF = state_as_of("cutoff", "past")
_STATUS = text(
    f"""
    SELECT a.id, {asset_status_sql(_AS_OF.stage, "day")} AS status
      FROM assets a {_AS_OF.join}
     WHERE a.id = ANY(:ids)
    """
)


def statuses(session: Session, houses: dict[str, int], day: str) -> dict[str, str]:
    on = dt.date.fromisoformat(day)
    rows = session.execute(
        _STATUS, {"ids": list(houses.values()), "day": on, "cutoff": end_of(on)}
    ).all()
    name = {asset: house for house, asset in houses.items()}
    return {name[row.id]: row.status for row in rows}


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # before the due date: what is left is pending
        ("2021-09-15", {"H1": "pending", "H2": "pending", "H3": "pending", "H4": "pending"}),
        ("2021-10-27", {"H1": "done", "H2": "done", "H3": "pending", "H4": "pending"}),
        # on the due date itself nothing is late yet
        ("2021-10-31", {"H1": "done", "H2": "done", "H3": "pending", "H4": "pending"}),
        # the day after: H3 (its report rejected), H4 and H5 (done only on 11-05) are overdue
        ("2021-11-01", {"H3": "overdue", "H4": "overdue", "H5": "overdue"}),
        (
            "2021-11-10",
            {"H1": "done", "H2": "done", "H3": "overdue", "H4": "overdue", "H5": "done"},
        ),
    ],
)
def test_status_on_a_day(
    session: Session, houses: dict[str, int], day: str, expected: dict[str, str]
) -> None:
    found = statuses(session, houses, day)
    assert {h: found[h] for h in expected} == expected
    assert set(found.values()) <= set(ASSET_STATUSES)


def test_no_rule_means_none(session: Session, houses: dict[str, int]) -> None:
    session.execute(text("DELETE FROM deadlines WHERE rule = 'houses_general_repair'"))
    assert set(statuses(session, houses, "2021-11-10").values()) == {"none"}


def test_every_rule_must_be_reached_for_done(session: Session, houses: dict[str, int]) -> None:
    """A second rule on the same houses (accepted by 2021-12-31): completed is not enough."""
    session.execute(
        text(
            "INSERT INTO deadlines (rule, layer, kind, stage, due_date, label_zh, label_en) "
            "VALUES ('houses_accepted', 'houses', 'general_repair', 'accepted', '2021-12-31', "
            "'验收', 'Accepted')"
        )
    )
    found = statuses(session, houses, "2021-11-10")
    assert (found["H1"], found["H3"]) == ("pending", "overdue")
    assert statuses(session, houses, "2022-01-01")["H1"] == "overdue"


def test_the_status_filter_agrees_with_each_assets_status(
    session: Session, houses: dict[str, int]
) -> None:
    """has_status_sql works the status out per combination of layer, kind, batch and stage;
    every asset must fall under the status asset_status_sql gives it, on days before and after
    the due date, roads with their batches included."""
    road_in = replace(
        WEIHUI_HOUSE, code="GL-410781-90001", layer="roads", kind="village_road", batch=2,
        geometry=LineString([(114.06, 35.40), (114.07, 35.41)]), householder_name=None,
        householder_phone=None,
    )  # fmt: skip
    road = create_asset(session, asset_in=road_in)
    session.execute(
        text("UPDATE assets SET stage = 'started', percent = 40 WHERE id = :id"), {"id": road}
    )
    ids = [*houses.values(), road]
    for day in ("2021-09-15", "2021-11-10", "2022-07-01"):
        on = dt.date.fromisoformat(day)
        each = dict(
            session.execute(
                text(
                    f"SELECT a.id, {asset_status_sql('a.stage', 'day')} FROM assets a "
                    "WHERE a.id = ANY(:ids)"
                ),
                {"ids": ids, "day": on},
            ).all()
        )
        for status in ASSET_STATUSES:
            matched = session.execute(
                text(f"SELECT a.id FROM assets a WHERE a.id = ANY(:ids) AND {HAS_STATUS}"),
                {"ids": ids, "day": on, "status": status},
            ).scalars()
            assert set(matched) == {a for a, s in each.items() if s == status}, (day, status)
        assert len(set(each.values())) > 1  # the days tell statuses apart
