"""tile_cells (migration 0006) stay equal to a recount from the assets, whatever changes them:
new assets, reports (raw and through gis/reports.py), reviews, moved or regrouped assets,
deletes; and a tile summed from them is the live tile, count for count.

The comparison is with ``tile_cells_rebuild()`` run inside a savepoint that is rolled back, so
each test checks the triggers' running cells against a count from scratch of the same rows.
"""

import collections
import datetime as dt
import math
import uuid
from dataclasses import replace

import mapbox_vector_tile
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import reports, reviews, users
from gis.access import Principal
from gis.assets import create_asset
from gis.progress import china_today
from gis.tiles import CELL_LEVELS, LINES_CLUSTER_BELOW_ZOOM, TileRequest, tile
from tests.progress_samples import event, follow
from tests.recount import assert_as_recounted
from tests.samples import WEIHUI_HOUSE

H1 = (114.07, 35.40)  # EPSG:4326, the first hand-counted house (tests/progress_samples.py)
CITY = Principal(None, "city", "city", "city_viewer", None)

_CELLS = """
    SELECT layer, level, cx, cy, county_adcode, kind, batch_key, stage, n, sum_x, sum_y, sum_id
      FROM tile_cells ORDER BY layer, level, cx, cy, county_adcode, kind, batch_key, stage
"""


def _assert_exact(session: Session) -> None:
    assert_as_recounted(session, _CELLS, "tile_cells_rebuild")


def _per_stage(session: Session, level: int = 18) -> dict[str, int]:
    rows = session.execute(
        text("SELECT stage, sum(n) FROM tile_cells WHERE level = :l GROUP BY stage"),
        {"l": level},
    )
    return {stage: int(n) for stage, n in rows}


def _more_houses(session: Session, n: int) -> list[int]:
    """``n`` houses on a 400 m grid north-east of H1, so that cells hold several."""
    return [
        create_asset(
            session,
            asset_in=replace(
                WEIHUI_HOUSE,
                code=f"FW-410781-7{i:04d}",
                geometry=Point(H1[0] + (i % 8) * 0.004, H1[1] + (i // 8) * 0.004),
            ),
        )
        for i in range(n)
    ]


def test_the_stored_levels_are_those_the_tiles_read(session: Session) -> None:
    levels = session.execute(text("SELECT tile_cell_levels()")).scalar_one()
    assert tuple(levels) == CELL_LEVELS


def test_cells_nest_exactly(session: Session) -> None:
    """A point's cell at a coarser level is its finer cell shifted, even on a cell's edge."""
    rows = session.execute(
        text(
            """
            SELECT tile_cell_x(x, 18) >> 8 = tile_cell_x(x, 10),
                   tile_cell_y(x, 18) >> 5 = tile_cell_y(x, 13)
              FROM (SELECT ST_X(ST_Transform(ST_SetSRID(ST_MakePoint(lon, 35.4), 4326), 3857))
                      FROM generate_series(113.0, 115.0, 0.0001) lon
                    UNION ALL  -- the edges of the level-18 cells themselves
                    SELECT i * 40075016.685578488 / 262144 - 20037508.342789244
                      FROM generate_series(170000, 170100) i) p(x)
            """
        )
    ).all()
    assert rows and all(a and b for a, b in rows)


def test_the_sample_history_is_counted_exactly(session: Session, houses: dict[str, int]) -> None:
    _assert_exact(session)
    # H1, H2, H5 completed; H3's completion was rejected; H4 never reported.
    for level in CELL_LEVELS:
        assert _per_stage(session, level) == {"completed": 3, "not_started": 2}
    position = session.execute(
        text(
            "SELECT c.n, c.sum_id, c.sum_x, c.sum_y, a.id, round(ST_X(a.p)), round(ST_Y(a.p)) "
            "FROM (SELECT id, ST_Transform(geom, 3857) AS p FROM assets WHERE id = :h4) a "
            "JOIN tile_cells c ON c.level = 18 AND c.cx = tile_cell_x(ST_X(a.p), 18) "
            "AND c.cy = tile_cell_y(ST_Y(a.p), 18)"
        ),
        {"h4": houses["H4"]},
    ).one()
    n, sums, asset = position[0], position[1:4], position[4:]
    assert n == 1 and sums == tuple(int(v) for v in asset)  # one asset: its id and position


def test_reports_and_reviews_move_assets_between_stages(
    session: Session, houses: dict[str, int]
) -> None:
    more = _more_houses(session, 20)
    event(session, more[0], "started", 30, "2021-09-02")
    session.execute(  # several reports in one statement, and the assets following them
        text(
            """
            INSERT INTO asset_events (id, asset_id, stage, percent, observed_at) VALUES
                (:a, :h4, 'started', 10, '2021-09-02T09:00+08'),
                (:b, :h4, 'completed', 100, '2021-09-30T09:00+08'),
                (:c, :m1, 'accepted', 100, '2021-12-01T09:00+08')
            """
        ),
        {"a": uuid.uuid4(), "b": uuid.uuid4(), "c": uuid.uuid4()}
        | {"h4": houses["H4"], "m1": more[1]},
    )
    session.execute(
        text(
            """
            UPDATE assets a SET stage = e.stage, percent = e.percent,
                   stage_observed_at = e.observed_at
              FROM (SELECT DISTINCT ON (asset_id) asset_id, stage, percent, observed_at
                      FROM counting_events WHERE asset_id IN (:h4, :m1)
                     ORDER BY asset_id, observed_at DESC) e
             WHERE a.id = e.asset_id
            """
        ),
        {"h4": houses["H4"], "m1": more[1]},
    )
    _assert_exact(session)
    assert _per_stage(session)["completed"] == 4

    # Through the product: a report, then a manager rejecting it.
    admin = users.add_user(session, username="cells-admin", password="pw-123456", role="admin")
    principal = Principal(admin, "cells-admin", "cells-admin", "admin", None)
    report = reports.ReportIn(
        id=uuid.uuid4(),
        stage="started",
        percent=50,
        observed_at=dt.datetime(2021, 10, 3, 10, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    )
    outcome = reports.submit(
        session,
        principal=principal,
        asset_id=more[2],
        report=report,
        rules=reports.FieldRules(),
    )
    assert outcome.status == "applied"
    _assert_exact(session)
    assert _per_stage(session)["started"] == 2
    other = users.add_user(session, username="cells-other", password="pw-123456", role="admin")
    reviewer = Principal(other, "cells-other", "cells-other", "admin", None)
    reviews.review(session, principal=reviewer, report_id=report.id, decision="rejected")
    _assert_exact(session)
    assert _per_stage(session)["started"] == 1


def test_changed_and_deleted_assets(session: Session, houses: dict[str, int]) -> None:
    more = _more_houses(session, 10)
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
    roads = "SELECT count(*) FROM tile_cells WHERE layer = 'roads'"
    assert session.execute(text(roads)).scalar_one() == 0  # lines are never grouped
    # moved 1 km east, regrouped, and a change that leaves the cells alone
    session.execute(
        text("UPDATE assets SET geom = ST_Translate(geom, 0.01, 0) WHERE id = ANY(:ids)"),
        {"ids": more[:5]},
    )
    session.execute(
        text("UPDATE assets SET kind = 'resettlement_site', households = 3 WHERE id = :h2"),
        {"h2": houses["H2"]},
    )
    session.execute(text("UPDATE assets SET village = 'x' WHERE id = :h1"), {"h1": houses["H1"]})
    session.execute(text("UPDATE assets SET batch = 2 WHERE id = :road"), {"road": road})
    _assert_exact(session)
    session.execute(text("DELETE FROM assets WHERE id = ANY(:ids)"), {"ids": [*more, houses["H4"]]})
    _assert_exact(session)
    assert _per_stage(session) == {"completed": 3, "not_started": 1}
    follow(session, houses["H1"])
    _assert_exact(session)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def _counts(body: bytes) -> tuple[collections.Counter, dict[int, dict]]:
    """Assets per status in a tile, and its single assets by id."""
    per_status: collections.Counter = collections.Counter()
    singles = {}
    for layer in mapbox_vector_tile.decode(body).values():
        for feature in layer["features"]:
            found = feature["properties"]
            if "n" in found:
                per_status.update({s: found[f"n_{s}"] for s in ("done", "pending", "overdue")})
                per_status["none"] += found["n_none"]
            else:
                per_status[found["status"]] += 1
                singles[found["id"]] = found
    return +per_status, singles


def _water_works(session: Session) -> None:
    """Three sluices (points) and a levee (a line) near H1: a layer of points and lines."""
    works = [Point(H1[0] + 0.001 * i, H1[1] + 0.002) for i in range(3)]
    works.append(LineString([(H1[0], H1[1] + 0.01), (H1[0] + 0.02, H1[1] + 0.01)]))
    for i, where in enumerate(works):
        create_asset(
            session,
            asset_in=replace(
                WEIHUI_HOUSE,
                code=f"SL-410781-6000{i}",
                layer="water_works",
                kind="sluice" if where.geom_type == "Point" else "levee",
                households=None,
                geometry=where,
                householder_name=None,
                householder_phone=None,
            ),
        )


def test_a_tile_from_the_cells_is_the_live_tile(session: Session, houses: dict[str, int]) -> None:
    _more_houses(session, 40)
    _water_works(session)
    today = china_today()
    queries = ({}, {"status": "overdue"}, {"stage": "completed"}, {"county": "410781"})
    for layer, z, query in [
        *(("houses", z, q) for z in (4, 9, 10, 11, 12, 13, 14, 15) for q in queries),
        *(("water_works", z, {}) for z in (10, 13)),
    ]:
        request = TileRequest(layer, *_tile_of(*H1, z), as_of=today, **query)
        stored = tile(session, principal=CITY, request=request, today=today)
        live = tile(session, principal=CITY, request=request, today=today, cells=False)
        assert _counts(stored) == _counts(live), (layer, z, query)
        if layer == "water_works" and z < LINES_CLUSTER_BELOW_ZOOM:  # the levee counted too
            assert sum(_counts(stored)[0].values()) == 4 and len(_counts(stored)[1]) == 0
        elif layer == "water_works":  # the levee sent on its own
            assert sum(_counts(stored)[0].values()) == 4 and len(_counts(stored)[1]) >= 1


def test_a_tile_of_an_earlier_day_from_the_cells_is_the_live_tile(
    session: Session, houses: dict[str, int]
) -> None:
    """An earlier day's tile of houses from today's cells, with the assets reported since moved
    back (gis/tiles.py, _MOVED_ROWS), equals the live tile of that day: reports before, on and
    after the day, a late report, a rejected one, houses reported twice after the day."""
    more = _more_houses(session, 40)
    for i, house in enumerate(more):
        if i % 3 == 0:
            event(session, house, "started", 20, "2021-09-20")
        if i % 4 == 0:
            event(session, house, "completed", 100, "2021-11-15")
        if i % 5 == 0:
            event(session, house, "accepted", 100, "2022-04-01")
    event(session, more[1], "completed", 100, "2021-10-01")  # a late report: arrives last
    rejected = event(session, more[2], "accepted", 100, "2021-10-05")
    reviewer = users.add_user(session, username="past-reviewer", password="pw-123456", role="admin")
    admin = Principal(reviewer, "past-reviewer", "past-reviewer", "admin", None)
    reviews.review(session, principal=admin, report_id=rejected, decision="rejected")
    days = [dt.date(2021, 9, 1), dt.date(2021, 9, 20), dt.date(2021, 10, 3), dt.date(2021, 12, 1)]
    queries = ({}, {"status": "overdue"}, {"stage": "completed"}, {"kind": "general_repair"})
    compared = 0
    for day in days:
        for z in (4, 10, 12, 14, 15):
            for query in queries:
                request = TileRequest("houses", *_tile_of(*H1, z), as_of=day, **query)
                cells = tile(session, principal=CITY, request=request)
                live = tile(session, principal=CITY, request=request, cells=False)
                assert _counts(cells) == _counts(live), (day, z, query)
                compared += sum(_counts(live)[0].values())
    assert compared > 1000  # the tiles held the houses
