"""Request dependencies, as ``Annotated`` aliases."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gis.db import POOL_SIZE


def _end(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def database_slots() -> asyncio.Semaphore:
    """How many requests may hold a database session at once: the size of the pool."""
    return asyncio.Semaphore(POOL_SIZE)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed if the handler returns, rolled back if it raises.

    A request first waits (on the event loop, holding no thread) for one of the pool's slots,
    so every admitted request finds a free connection and a free worker thread: a request
    holding a connection can never wait for a thread that others hold while they wait for
    connections. Opening the session does no I/O (the connection is taken at its first
    statement); only the commit or rollback goes to a worker thread.
    """
    async with request.app.state.database_slots:
        session = request.app.state.sessions()
        session.begin()
        try:
            yield session
        except BaseException:
            await run_in_threadpool(_end, session, commit=False)
            raise
        await run_in_threadpool(_end, session, commit=True)


# scope="function": the transaction ends (commit or rollback) when the handler returns, before
# the response is sent. With the default ("request") the commit would follow the response, and
# a client acting on a 201 at once could find nothing there yet, or a failed commit behind it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
