"""progress_tallies (migration 0005) stay equal to a recount from the history, whatever changes
it: reports in any order, several in one statement, reviews, new assets, changed assets.

The comparison is with ``tally_rebuild()`` run inside a savepoint that is rolled back, so each
test checks the triggers' running total against a count from scratch of the same rows.
"""

import uuid
from dataclasses import replace

from shapely.geometry import LineString
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import users
from gis.assets import create_asset
from tests.progress_samples import event, follow
from tests.recount import assert_as_recounted
from tests.samples import WEIHUI_HOUSE

_NONZERO = """
    SELECT layer, county_adcode, kind, batch, stage, day::text, assets, households, km,
           investment_wan
      FROM progress_tallies
     WHERE assets <> 0 OR households <> 0 OR km <> 0 OR investment_wan <> 0
     ORDER BY layer, county_adcode, kind, batch, stage, day
"""


def _assert_exact(session: Session) -> None:
    assert_as_recounted(session, _NONZERO, "tally_rebuild")


def _in_stage_now(session: Session) -> dict[str, int]:
    """Assets per stage from the tallies summed over all days."""
    rows = session.execute(
        text(
            "SELECT stage, sum(assets) FROM progress_tallies GROUP BY stage HAVING sum(assets) <> 0"
        )
    )
    return {stage: int(n) for stage, n in rows}


def test_the_sample_history_is_tallied_exactly(session: Session, houses: dict[str, int]) -> None:
    _assert_exact(session)
    # H1, H2, H5 completed; H3's completion was rejected; H4 never reported.
    assert _in_stage_now(session) == {"completed": 3, "not_started": 2}
    steps = session.execute(
        text(
            "SELECT day::text, stage, assets FROM progress_tallies "
            "WHERE county_adcode = '410781' AND assets <> 0 ORDER BY day, stage"
        )
    ).all()
    assert steps == [
        ("-infinity", "not_started", 4),
        ("2021-09-01", "not_started", -1),  # H2 started
        ("2021-09-01", "started", 1),
        ("2021-10-01", "completed", 1),  # H1
        ("2021-10-01", "not_started", -1),
        ("2021-10-25", "completed", 1),  # H2 completed
        ("2021-10-25", "started", -1),
    ]


def test_the_tallies_agree_with_every_assets_stage(
    session: Session, houses: dict[str, int]
) -> None:
    stages = session.execute(text("SELECT stage, count(*) FROM assets GROUP BY stage"))
    assert _in_stage_now(session) == {stage: n for stage, n in stages}


def test_a_late_report_between_two_others(session: Session, houses: dict[str, int]) -> None:
    # Observed between H2's start and its completion, received last (an offline phone).
    event(session, houses["H2"], "preparatory_done", 0, "2021-08-20")
    event(session, houses["H2"], "started", 70, "2021-10-10")
    _assert_exact(session)


def test_several_reports_in_one_statement(session: Session, houses: dict[str, int]) -> None:
    session.execute(
        text(
            """
            INSERT INTO asset_events (id, asset_id, stage, percent, observed_at) VALUES
                (:a, :h4, 'started', 10, '2021-09-02T09:00+08'),
                (:b, :h4, 'completed', 100, '2021-09-30T09:00+08'),
                (:c, :h1, 'accepted', 100, '2021-12-01T09:00+08')
            """
        ),
        {"a": uuid.uuid4(), "b": uuid.uuid4(), "c": uuid.uuid4()}
        | {"h4": houses["H4"], "h1": houses["H1"]},
    )
    _assert_exact(session)


def test_many_reports_and_reviews_in_one_statement(
    session: Session, houses: dict[str, int]
) -> None:
    """An import writes all its first events in one statement, and a manager may confirm many
    reports at once: past 64 events (migration 0011) the triggers test them by hashing, and the
    tallies must stay exact all the same. 75 events over the five houses, in any order of
    observation, a fifth of them held as conflicts; then 75 reviews in one statement."""
    reviewer = users.add_user(session, username="bulk-reviewer", password="pw-123456", role="admin")
    params = {"ids": list(houses.values())}
    session.execute(
        text(
            """
            INSERT INTO asset_events (id, asset_id, stage, percent, observed_at, flags)
            SELECT gen_random_uuid(), h.id,
                   (ARRAY['preparatory_done', 'started', 'completed', 'accepted'])[n % 4 + 1],
                   (ARRAY[0, 50, 100, 100])[n % 4 + 1],
                   timestamptz '2021-08-01T09:00+08' + (n * 7 % 15) * interval '6 days',
                   CAST(CASE WHEN n % 5 = 0 THEN '{conflict}' ELSE '{}' END AS text[])
              FROM unnest(CAST(:ids AS bigint[])) h(id), generate_series(1, 15) n
            """
        ),
        params,
    )
    _assert_exact(session)
    reviewed = session.execute(
        text(
            """
            INSERT INTO report_reviews (event_id, decision, reviewer_id)
            SELECT e.id, CASE WHEN row_number() OVER (ORDER BY e.id) % 3 = 0
                              THEN 'rejected' ELSE 'confirmed' END, :u
              FROM asset_events e
             WHERE e.asset_id = ANY(:ids)
               AND NOT EXISTS (SELECT FROM report_reviews r WHERE r.event_id = e.id)
            """
        ),
        params | {"u": reviewer},
    ).rowcount
    assert reviewed >= 64
    _assert_exact(session)


def test_reviews_make_reports_count_or_stop_counting(
    session: Session, houses: dict[str, int]
) -> None:
    reviewer = users.add_user(
        session, username="tally-reviewer", password="pw-123456", role="admin"
    )
    held = uuid.uuid4()
    session.execute(
        text(
            "INSERT INTO asset_events (id, asset_id, stage, percent, observed_at, flags) "
            "VALUES (:id, :h4, 'completed', 100, '2021-10-05T09:00+08', '{conflict}')"
        ),
        {"id": held, "h4": houses["H4"]},
    )
    _assert_exact(session)  # held as a conflict: does not count yet
    review = "INSERT INTO report_reviews (event_id, decision, reviewer_id) VALUES (:e, :d, :u)"
    session.execute(text(review), {"e": held, "d": "confirmed", "u": reviewer})
    follow(session, houses["H4"])
    _assert_exact(session)
    assert _in_stage_now(session)["completed"] == 4
    h1_report = session.execute(
        text("SELECT id FROM asset_events WHERE asset_id = :a"), {"a": houses["H1"]}
    ).scalar_one()
    session.execute(text(review), {"e": h1_report, "d": "rejected", "u": reviewer})
    follow(session, houses["H1"])
    _assert_exact(session)
    assert _in_stage_now(session)["completed"] == 3


def test_new_and_changed_assets(session: Session, houses: dict[str, int]) -> None:
    road = create_asset(
        session,
        asset_in=replace(
            WEIHUI_HOUSE,
            code="DL-410781-60000",
            layer="roads",
            kind="village_road",
            batch=1,
            households=None,
            geometry=LineString([(114.07, 35.40), (114.08, 35.40)]),
            householder_name=None,
            householder_phone=None,
        ),
    )
    _assert_exact(session)
    km = session.execute(
        text("SELECT km FROM progress_tallies WHERE layer = 'roads' AND assets = 1")
    ).scalar_one()
    assert 0.89 < float(km) < 0.92  # 0.01° of longitude at 35.4°N is about 0.907 km
    event(session, road, "started", 30, "2021-10-03")
    session.execute(
        text(
            "UPDATE assets SET geom = ST_SetSRID(ST_MakeLine(ST_MakePoint(114.07, 35.40), "
            "ST_MakePoint(114.09, 35.40)), 4326), batch = 2, planned_investment_wan = 120 "
            "WHERE id = :id"
        ),
        {"id": road},
    )
    session.execute(
        text(
            "UPDATE assets SET kind = 'resettlement_site', households = 3, "
            "planned_investment_wan = 8.5 WHERE id = :id"
        ),
        {"id": houses["H2"]},
    )
    _assert_exact(session)
    weights = session.execute(
        text(
            "SELECT sum(households), sum(investment_wan) FROM progress_tallies "
            "WHERE layer = 'houses' AND county_adcode = '410781'"
        )
    ).one()
    assert (weights[0], float(weights[1])) == (3 + 3, 8.5)  # H1, H3, H4 one each; H2 three


def test_an_asset_without_reports_can_go(session: Session, houses: dict[str, int]) -> None:
    session.execute(text("DELETE FROM assets WHERE id = :id"), {"id": houses["H4"]})
    _assert_exact(session)
    assert _in_stage_now(session) == {"completed": 3, "not_started": 1}
