"""How PostgreSQL planned the statements prepared on a test's connection."""

from sqlalchemy import text
from sqlalchemy.orm import Session


def generic_and_custom(session: Session) -> tuple[int, int]:
    """Generic and custom plans so far, summed over the statements with parameters that psycopg
    has prepared on the session's connection (it prepares a statement once the connection has
    run it five times). A statement without parameters has only the one plan, counted generic."""
    row = session.execute(
        text(
            "SELECT coalesce(sum(generic_plans), 0) AS generic, "
            "coalesce(sum(custom_plans), 0) AS custom FROM pg_prepared_statements "
            "WHERE cardinality(parameter_types) > 0"
        )
    ).one()
    return int(row.generic), int(row.custom)


def prefer_generic_plans(session: Session) -> None:
    """For the rest of the test's transaction, generic plans for prepared statements, as
    PostgreSQL may decide on its own once a statement has run a few times."""
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
