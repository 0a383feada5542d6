"""The report list (gis/queries/history.py): how PostgreSQL is asked for it."""

from sqlalchemy.orm import Session

from gis.access import Principal
from gis.queries.history import report_list
from tests.plans import generic_and_custom, prefer_generic_plans

CITY = Principal(1, "city", "city", "viewer", None)
WEIHUI = Principal(2, "m", "m", "manager", frozenset({"410781"}))


def test_each_county_and_filter_gets_a_plan_of_its_own(session: Session) -> None:
    """A generic plan cannot suit both the whole city's newest reports and one small county's
    rejected ones; PostgreSQL, told to prefer generic plans as it may on its own after five
    runs of a statement, must still plan each list for its values."""
    generic, custom = generic_and_custom(session)
    prefer_generic_plans(session)
    for principal, county, review in [
        (CITY, None, None),
        (CITY, "410782", "rejected"),
        (WEIHUI, "410781", "pending"),
    ] * 6:  # each variant prepared after its fifth run
        report_list(
            session, principal, flagged=False, county=county, review=review, limit=5, offset=0
        )
    generic_after, custom_after = generic_and_custom(session)
    assert generic_after == generic
    assert custom_after > custom
