"""Request dependencies, as ``Annotated`` aliases."""

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import AbstractContextManager, ExitStack
from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gis import db
from gis.db import DOWNLOADS, POOL_SIZE
from gis.errors import Busy


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


def download_slots() -> asyncio.Semaphore:
    """How many layer downloads may stream at once: the connections kept for them (DOWNLOADS).

    A download streams for as long as the client reads (minutes for a city's houses), long
    after its request's session has ended. Its connection is one of DOWNLOADS that the pool
    keeps beyond the requests' POOL_SIZE, so however many downloads run, every request admitted
    by ``database_slots`` still finds a connection at once. A download beyond them is refused
    (503, Retry-After) rather than queued: a queued download would hold its client without a
    byte until a proxy gave up (typically after 60 s).
    """
    return asyncio.Semaphore(DOWNLOADS)


class Download:
    """A layer download's own read-only snapshot (``db.snapshot``) and the chunks it streams.

    The request's session is committed and closed when the handler returns (see get_session),
    before the body is sent; the chunks read from this snapshot instead. ``close`` ends both
    the chunks (their server-side cursor, their temporary files) and the snapshot; it runs when
    the last chunk is sent, and after the response in any case: a client that disconnects
    mid-download leaves neither a transaction nor a file behind.
    """

    def __init__(self, snapshots: Callable[[], AbstractContextManager[Session]]) -> None:
        self._snapshots = snapshots
        self._session: Session | None = None
        self._open = ExitStack()
        self._chunks: Generator[bytes] | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Session:
        """The download's session, opened at the first call (in a worker thread: it connects)."""
        with self._lock:
            if self._session is None:
                self._session = self._open.enter_context(self._snapshots())
            return self._session

    def end_snapshot(self) -> None:
        """Close the snapshot early, when what was read from it is complete (a written file)."""
        with self._lock:
            self._session = None
            self._open.close()

    def stream(self, chunks: Generator[bytes]) -> Iterator[bytes]:
        """``chunks``, then ``close``; Starlette runs each step in a worker thread, one by one."""
        self._chunks = chunks
        yield from chunks
        self.close()

    def close(self) -> None:
        with self._lock:
            chunks, self._chunks = self._chunks, None
        if chunks is not None:
            # Not running: Starlette waits for a step's thread before it gives up on a body.
            chunks.close()
        self.end_snapshot()


async def get_download(request: Request) -> AsyncIterator[Download]:
    """A slot for a layer download, or Busy when all are taken; the download is closed after
    the response has been sent or abandoned."""
    slots: asyncio.Semaphore = request.app.state.download_slots
    if slots.locked():
        raise Busy(
            f"同时进行的图层下载已达上限（每个服务进程 {DOWNLOADS} 个），请约 1 分钟后重试。",
            f"{DOWNLOADS} layer downloads are already running on this server process; retry "
            "in a minute.",
        )
    async with slots:
        download = Download(partial(db.snapshot, request.app.state.sessions))
        try:
            yield download
        finally:
            with anyio.CancelScope(shield=True):  # a server shutting down still closes it
                await run_in_threadpool(download.close)


# scope="request" (the default, said here as it matters): the download ends after the response.
DownloadDep = Annotated[Download, Depends(get_download, scope="request")]
