"""Tables kept by triggers (progress_tallies, tile_cells) against a recount from scratch."""

from sqlalchemy import text
from sqlalchemy.orm import Session


def rows(session: Session, query: str) -> list[tuple]:
    return [tuple(row) for row in session.execute(text(query))]


def recounted(session: Session, query: str, rebuild: str) -> list[tuple]:
    """``query``'s rows after the SQL function ``rebuild`` recounts the table, in a savepoint
    rolled back afterwards: the table as kept is left as it was."""
    savepoint = session.begin_nested()
    session.execute(text(f"SELECT {rebuild}()"))
    found = rows(session, query)
    savepoint.rollback()
    return found


def assert_as_recounted(session: Session, query: str, rebuild: str) -> None:
    kept = rows(session, query)
    assert kept, "the table is empty"
    assert kept == recounted(session, query, rebuild)
