"""The database: one writer connection with group commit, and a small pool of readers.

SQLite allows one writer at a time. Instead of letting every request fight for the write lock,
all writes are queued to a single writer task. The task takes whatever jobs are waiting, runs
them in ONE transaction (each job inside its own SAVEPOINT, so one failing job does not undo the
others), commits once, and only then resolves the callers' futures. A burst of N submissions
therefore costs one fsync instead of N, and nothing is acknowledged before it is durable
(``synchronous=FULL``).

The writer's connection is a stdlib ``sqlite3`` connection behind :class:`storage.inline.InlineConnection`:
the statements of a job run inline on the event loop (no thread hop per statement, see that
module for why), while BEGIN, COMMIT and close run on one dedicated thread because they can wait
(for another process's lock, for the fsync). Only the writer task uses the connection, and it
awaits those calls, so the connection is never used from two threads at once. Readers stay on
aiosqlite, each on its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage import migrations
from storage.errors import StorageUnavailable
from storage.inline import InlineConnection

log = logging.getLogger("meyasubako.storage")

T = TypeVar("T")
# Jobs are written against aiosqlite's API; the writer hands them an InlineConnection, which has it.
WriteJob = Callable[[aiosqlite.Connection], Awaitable[T]]
SLOW_JOB_S = 0.05  # a job this long holds up the event loop: worth a log line

# Errors that mean "the database cannot take writes now" rather than "this job is wrong".
_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CANTOPEN,
}


def _is_unavailable(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _UNAVAILABLE_CODES
    return isinstance(exc, sqlite3.OperationalError) and any(
        s in str(exc) for s in ("disk is full", "readonly", "disk I/O", "database is locked", "unable to open")
    )


@dataclass
class _Job:
    fn: WriteJob[Any]
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


def _open_writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row  # what aiosqlite.Row is
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _close_writer(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA optimize")
    conn.close()


async def _configure(conn: aiosqlite.Connection, *, readonly: bool = False) -> None:
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA busy_timeout = 5000")
    await conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
    else:
        await conn.execute("PRAGMA query_only = ON")


class Database:
    """Owns the connections. Open with ``await db.open()``, close with ``await db.close()``."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, readers: int = 3, max_batch: int = 256) -> None:
        self.path = Path(path)
        self._n_readers = readers
        self._max_batch = max_batch
        self._writer: InlineConnection | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._reader_conns: list[aiosqlite.Connection] = []
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed by the writer (for benchmarks and tests)
        self.jobs = 0

    # -- lifecycle -----------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        raw = await asyncio.get_running_loop().run_in_executor(self._writer_thread, _open_writer, self.path)
        self._writer = InlineConnection(raw)
        if migrate:
            applied = await migrations.migrate(self._writer)
            if applied:
                log.info("event=migrate applied=%s db=%s", applied, self.path)
        for _ in range(self._n_readers):
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            await _configure(conn, readonly=True)
            self._reader_conns.append(conn)
            self._readers.put_nowait(conn)
        self._task = asyncio.create_task(self._writer_loop(), name="storage-writer")

    async def close(self) -> None:
        """Finish every queued write, then close all connections."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        for conn in self._reader_conns:
            await conn.close()
        self._reader_conns.clear()
        if self._writer is not None:
            await self._blocking(_close_writer, self._writer.raw)
            self._writer = None
        if self._writer_thread is not None:
            self._writer_thread.shutdown(wait=True)
            self._writer_thread = None

    async def schema_version(self) -> int:
        async with self.read() as conn:
            return await migrations.current_version(conn)

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Run-once guard for background jobs. A SQLite database is served by one process (the
        serve lock beside the file), so this process always runs them (PostgreSQL: advisory lock)."""
        yield True

    # -- reads ---------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                await conn.rollback()
            self._readers.put_nowait(conn)

    # -- writes --------------------------------------------------------------------------------
    async def write(self, fn: WriteJob[T]) -> T:
        """Run ``fn(conn)`` inside the writer's next transaction; return its result once committed.

        Raises whatever ``fn`` raised (its savepoint is rolled back), or StorageUnavailable when
        the transaction could not be committed.
        """
        if self._task is None or self._task.done():
            raise StorageUnavailable("database is not open")
        job = _Job(fn)
        await self._queue.put(job)
        return await job.future

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a call that may wait (lock, fsync) on the writer's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, fn, *args)

    async def _writer_loop(self) -> None:
        assert self._writer is not None
        conn = self._writer
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            try:
                await self._run_batch(conn, batch)
            except Exception as exc:  # never let one batch end the only writer: every later write would hang
                log.exception("event=writer_batch_crashed jobs=%d", len(batch))
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        await conn.execute("ROLLBACK")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(StorageUnavailable(f"writer error: {exc!r}"))

    async def _run_batch(self, conn: InlineConnection, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            await self._blocking(conn.raw.execute, "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            log.error("event=write_failed stage=begin error=%r", exc)
            for job in batch:
                if not job.future.done():  # a caller that went away has a cancelled future
                    job.future.set_exception(StorageUnavailable(str(exc)))
            return
        fatal: BaseException | None = None
        for job in batch:
            started = time.perf_counter()
            try:
                await conn.execute("SAVEPOINT job")
                result = await job.fn(conn)  # type: ignore[arg-type]  # InlineConnection speaks aiosqlite
                await conn.execute("RELEASE job")
                outcomes.append((job, result, None))
            except Exception as exc:  # the job's own failure: undo just this job
                try:
                    await conn.execute("ROLLBACK TO job")
                    await conn.execute("RELEASE job")
                except sqlite3.Error as exc2:
                    fatal = exc2
                if _is_unavailable(exc):
                    fatal = exc
                outcomes.append((job, None, exc))
            took = time.perf_counter() - started
            if took > SLOW_JOB_S:
                log.warning("event=slow_write_job ms=%.1f job=%s", took * 1000, getattr(job.fn, "__qualname__", "?"))
            if fatal is not None:
                break
        if fatal is None:
            try:
                await self._blocking(conn.raw.execute, "COMMIT")
                self.commits += 1
                self.jobs += len(batch)
            except sqlite3.Error as exc:
                fatal = exc
        if fatal is not None:
            log.error("event=write_failed stage=commit error=%r jobs=%d", fatal, len(batch))
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(StorageUnavailable(str(fatal)))
            return
        done = {id(j) for j, _, _ in outcomes}
        for job, result, exc in outcomes:
            if job.future.done():  # the caller went away (cancelled); the write stands regardless
                continue
            if exc is not None:
                job.future.set_exception(StorageUnavailable(str(exc)) if _is_unavailable(exc) else exc)
            else:
                job.future.set_result(result)
        for job in batch:  # jobs after a fatal error never ran; not reached when fatal is None
            if id(job) not in done and not job.future.done():
                job.future.set_exception(StorageUnavailable("not attempted"))
