"""Pages of features (gis/queries/features.py): how PostgreSQL is asked for them."""

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.access import Principal
from gis.queries.features import ItemQuery, asset_page
from tests.plans import generic_and_custom, prefer_generic_plans

CITY = Principal(1, "city", "city", "viewer", None)
# Boxes from a few hundred metres to the whole city (CRS84): one generic plan cannot suit all.
BOXES = [
    (114.06 + d, 35.39 + d, 114.06 + d + size, 35.39 + d + size)
    for d, size in [(0.0, 0.005), (0.01, 0.02), (0.02, 0.1), (-0.9, 1.8)]
]


def test_every_page_is_planned_for_its_own_box(session: Session) -> None:
    """psycopg prepares a statement run five times on one connection, and PostgreSQL may then
    keep a single generic plan for every bbox (at a million houses: 2.9 s for a whole-city
    page that its own plan answers in 16 ms). Here PostgreSQL is told to prefer generic plans,
    as it may decide to on its own: pages must still be planned one by one."""
    generic, custom = generic_and_custom(session)
    prefer_generic_plans(session)
    for box in BOXES * 4:  # 16 pages: prepared after the fifth
        asset_page(session, principal=CITY, layer="houses", query=ItemQuery(limit=10, bbox=box))
    for county in ("410781", "410782") * 4:  # the other shape: ids first
        asset_page(
            session, principal=CITY, layer="houses", query=ItemQuery(limit=10, county=county)
        )
    generic_after, custom_after = generic_and_custom(session)
    assert generic_after == generic
    assert custom_after > custom  # prepared, so planned once per page
    workers = session.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one()
    assert workers == "0"
