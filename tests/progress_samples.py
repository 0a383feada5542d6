"""The hand-counted data set of the progress tests (a pytest plugin: tests/conftest.py).

Rule houses_general_repair (data/deadlines.toml): general repairs completed by 2021-10-31.
卫辉市 has four such houses, 辉县市 one:
  H1 completed 2021-10-01;
  H2 started 2021-09-01, completed 2021-10-25;
  H3 completed 2021-10-20, but that report was rejected by a manager;
  H4 no report;
  H5 (辉县市) completed 2021-11-05, after the due date.
"""

import uuid
from dataclasses import replace

import pytest
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import users
from gis.assets import create_asset
from tests.samples import IN_HUIXIAN, WEIHUI_HOUSE


def event(session: Session, asset: int, stage: str, percent: int, day: str) -> uuid.UUID:
    """A report observed on ``day``; the asset's current state follows, as the product keeps
    it (the newest counting report)."""
    event = uuid.uuid4()
    session.execute(
        text(
            "INSERT INTO asset_events (id, asset_id, stage, percent, observed_at) "
            "VALUES (:id, :a, :s, :p, CAST(:d AS timestamptz))"
        ),
        {"id": event, "a": asset, "s": stage, "p": percent, "d": f"{day}T10:00:00+08:00"},
    )
    follow(session, asset)
    return event


def follow(session: Session, asset: int) -> None:
    session.execute(
        text(
            """
            UPDATE assets a SET stage = coalesce(e.stage, 'not_started'),
                   percent = coalesce(e.percent, 0), stage_observed_at = e.observed_at
              FROM (SELECT NULL) dummy
              LEFT JOIN LATERAL (SELECT stage, percent, observed_at FROM counting_events
                                  WHERE asset_id = :a
                                  ORDER BY observed_at DESC, received_at DESC LIMIT 1) e ON true
             WHERE a.id = :a
            """
        ),
        {"a": asset},
    )


@pytest.fixture
def houses(session: Session) -> dict[str, int]:
    made = {}
    for n, where in enumerate([(114.07, 35.40), (114.08, 35.41), (114.09, 35.40), (114.07, 35.42)]):
        made[f"H{n + 1}"] = create_asset(
            session,
            asset_in=replace(WEIHUI_HOUSE, code=f"FW-410781-6000{n}", geometry=Point(*where)),
        )
    made["H5"] = create_asset(
        session,
        asset_in=replace(
            WEIHUI_HOUSE, code="FW-410782-60000", county_adcode="410782", geometry=IN_HUIXIAN
        ),
    )
    event(session, made["H1"], "completed", 100, "2021-10-01")
    event(session, made["H2"], "started", 40, "2021-09-01")
    event(session, made["H2"], "completed", 100, "2021-10-25")
    rejected = event(session, made["H3"], "completed", 100, "2021-10-20")
    reviewer = users.add_user(
        session, username="progress-reviewer", password="password-1", role="admin"
    )
    session.execute(
        text(
            "INSERT INTO report_reviews (event_id, decision, reviewer_id) "
            "VALUES (:e, 'rejected', :u)"
        ),
        {"e": rejected, "u": reviewer},
    )
    follow(session, made["H3"])
    event(session, made["H5"], "completed", 100, "2021-11-05")
    return made
