"""Request dependencies, as ``Annotated`` aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed if the handler returns, rolled back if it raises."""
    with request.app.state.sessions() as session, session.begin():
        yield session


# scope="function": the transaction ends (commit or rollback) when the handler returns, before
# the response is sent. With the default ("request") the commit would follow the response, and
# a client acting on a 201 at once could find nothing there yet, or a failed commit behind it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
