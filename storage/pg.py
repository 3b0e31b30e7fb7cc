"""The PostgreSQL backend: the same ``Database`` interface as ``storage.db``, over an asyncpg pool.

Every storage function is written against one small connection API (``await conn.execute(sql,
params)``, ``async with conn.execute(...) as cur``, ``await cur.fetchone()``, ``cur.rowcount``) with
``?`` placeholders. :class:`PgConnection` speaks that API over an asyncpg connection, translating
``?`` into ``$1, $2 ...`` once per statement text (cached). Where the two SQL dialects really differ
(full-text search, row locks, a date difference) the storage function asks :func:`storage.dialect.is_pg`
and writes each form; everything else is written once, in SQL both accept.

Writes: SQLite has one writer, so ``storage.db`` queues jobs to a single task and group-commits
them. PostgreSQL takes concurrent transactions, and several ``serve`` processes share it, so here
each ``write(fn)`` runs ``fn`` in its own READ COMMITTED transaction on a pooled connection. Jobs
that read-then-write one submission lock its row (``SELECT ... FOR UPDATE``, see ``for_update``);
idempotency keys are UNIQUE constraints. A job that loses a race on one of them (a unique
violation), a deadlock or a serialization failure is run again from the start, up to
``RETRIES`` times: on the second run its "already there?" check sees the winner's committed row.
A job's result is returned only after COMMIT, as with SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg

from storage.errors import StorageUnavailable

log = logging.getLogger("meyasubako.storage.pg")

T = TypeVar("T")
RETRIES = 5
# Unlike SQLite's inline writer, a job here awaits every round trip, so its duration includes time
# the event loop spent on other requests; it never blocks the loop. Only a job that holds its
# pooled connection (and its row locks) this long is worth a warning.
SLOW_JOB_S = 0.5

# Errors that mean "run the job again", not "the job is wrong".
_RETRY = (
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.UniqueViolationError,
)
# Errors that mean "the database cannot take writes now".
_UNAVAILABLE = (
    asyncpg.exceptions.DiskFullError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
)

_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES|SHOW)\b|\bRETURNING\b", re.IGNORECASE)
_TRANSLATED: dict[str, str] = {}


def translate(sql: str) -> str:
    """``?`` placeholders -> ``$n`` (string literals and quoted names left alone); cached."""
    hit = _TRANSLATED.get(sql)
    if hit is not None:
        return hit
    out: list[str] = []
    n = 0
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            if ch == quote:
                quote = None
            out.append(ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            n += 1
            out.append(f"${n}")
        else:
            out.append(ch)
    result = "".join(out)
    if len(_TRANSLATED) < 4096:
        _TRANSLATED[sql] = result
    return result


class PgCursor:
    """What the storage layer reads from a cursor: rows and the affected-row count."""

    __slots__ = ("_rows", "_pos", "rowcount")

    def __init__(self, rows: list[asyncpg.Record], rowcount: int) -> None:
        self._rows = rows
        self._pos = 0
        self.rowcount = rowcount

    async def fetchone(self) -> asyncpg.Record | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    async def fetchall(self) -> list[asyncpg.Record]:
        rest = self._rows[self._pos:]
        self._pos = len(self._rows)
        return rest

    async def close(self) -> None:
        self._rows = []

    def __aiter__(self) -> PgCursor:
        return self

    async def __anext__(self) -> asyncpg.Record:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class _Pending:
    """``conn.execute(...)``: awaitable (-> cursor) and usable as ``async with`` (-> cursor)."""

    __slots__ = ("_conn", "_sql", "_params")

    def __init__(self, conn: PgConnection, sql: str, params: Sequence[Any]) -> None:
        self._conn, self._sql, self._params = conn, sql, params

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._conn._run(self._sql, self._params).__await__()

    async def __aenter__(self) -> PgCursor:
        return await self._conn._run(self._sql, self._params)

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgConnection:
    """The aiosqlite-shaped API of the storage layer, over one asyncpg connection."""

    dialect = "postgresql"

    def __init__(self, raw: asyncpg.Connection, db: PgDatabase | None = None) -> None:
        self.raw = raw
        self._db = db

    async def take_receipt(self, year: int) -> int:
        """The next receipt counter value, committed on its own (see submissions.next_receipt_no)."""
        if self._db is None:
            raise StorageUnavailable("no database for the receipt counter")
        return await self._db.take_receipt(year)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Pending:
        return _Pending(self, sql, params)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        return (await self._run(sql, params))._rows

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.raw.executemany(translate(sql), [tuple(r) for r in rows])

    async def _run(self, sql: str, params: Sequence[Any]) -> PgCursor:
        q = translate(sql)
        args = tuple(params)
        if _ROWS.search(q):
            rows = await self.raw.fetch(q, *args)
            return PgCursor(rows, len(rows))
        status = await self.raw.execute(q, *args)
        tail = status.rsplit(" ", 1)[-1] if status else ""
        return PgCursor([], int(tail) if tail.isdigit() else -1)

    @property
    def in_transaction(self) -> bool:
        return self.raw.is_in_transaction()


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, _UNAVAILABLE)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Timestamps are ISO text in both backends; no type codecs needed. A statement that runs away
    # (a pathological search) is stopped rather than holding a pooled connection forever.
    await conn.execute("SET statement_timeout = '30s'")


class PgDatabase:
    """Owns an asyncpg pool. ``read()`` lends a connection; ``write(fn)`` runs ``fn`` in a transaction."""

    dialect = "postgresql"

    def __init__(self, dsn: str, *, readers: int = 3, max_size: int = 10) -> None:
        self.dsn = dsn
        self._min = max(1, min(readers, max_size))
        self._max = max_size
        self._pool: asyncpg.Pool | None = None
        self.commits = 0
        self.jobs = 0
        self.retries = 0
        self._counter: asyncpg.Connection | None = None
        self._counter_lock = asyncio.Lock()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageUnavailable("database is not open")
        return self._pool

    async def open(self, *, migrate: bool = True) -> None:
        from storage import migrations

        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=self._min, max_size=self._max,
                                                   init=_init_connection, command_timeout=60)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise StorageUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        if migrate:
            async with self.pool.acquire() as raw:
                applied = await migrations.migrate(PgConnection(raw))
            if applied:
                log.info("event=migrate applied=%s db=postgresql", applied)

    async def take_receipt(self, year: int) -> int:
        """One counter increment in its own committed transaction, on a connection kept for it.

        The row lock is held for one statement, not for a whole submission's transaction, so
        submissions of every process no longer queue behind each other here. The commit is
        asynchronous (``synchronous_commit = off``) yet safe: WAL is flushed in order, so the
        submission that uses the number, committed synchronously later, makes the increment
        durable too; if that submission never commits, its number was never shown to anyone.
        """
        from storage.submissions import TAKE_RECEIPT

        async with self._counter_lock:
            for attempt in range(2):
                try:
                    if self._counter is None or self._counter.is_closed():
                        self._counter = await asyncpg.connect(self.dsn)
                        await self._counter.execute("SET synchronous_commit = off")
                    return int(await self._counter.fetchval(translate(TAKE_RECEIPT), year))
                except (*_UNAVAILABLE, OSError) as exc:
                    self._counter = None
                    if attempt == 1:
                        raise StorageUnavailable(f"receipt counter: {exc}") from exc
                except asyncpg.PostgresError as exc:
                    if is_unavailable(exc):
                        raise StorageUnavailable(f"receipt counter: {exc}") from exc
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._counter is not None:
            with contextlib.suppress(Exception):
                await self._counter.close()
            self._counter = None
        if self._pool is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._pool.close(), timeout=10)
            self._pool = None

    async def schema_version(self) -> int:
        from storage import migrations

        async with self.read() as conn:
            return await migrations.current_version(conn)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[PgConnection]:
        try:
            raw = await self.pool.acquire()
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(str(exc)) from exc
        try:
            # Read-only like SQLite's readers (query_only): a read path can never write by mistake.
            async with raw.transaction(readonly=True):
                yield PgConnection(raw)
        except _UNAVAILABLE as exc:  # the server went away mid-read: a 503, not a 500
            raise StorageUnavailable(str(exc)) from exc
        except asyncpg.PostgresError as exc:
            if is_unavailable(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise
        finally:
            await self.pool.release(raw)

    async def write(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        for attempt in range(RETRIES + 1):
            try:
                return await self._attempt(fn)
            except _RETRY:
                if attempt == RETRIES:
                    raise
                self.retries += 1
                await asyncio.sleep(0.001 * (2 ** attempt))
        raise AssertionError("unreachable")

    async def _attempt(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        try:
            raw = await self.pool.acquire()
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(str(exc)) from exc
        started = time.perf_counter()
        try:
            async with raw.transaction():
                result = await fn(PgConnection(raw, self))
            self.commits += 1
            self.jobs += 1
            return result
        except _RETRY:
            raise
        except asyncpg.PostgresError as exc:
            if is_unavailable(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(str(exc)) from exc
        finally:
            took = time.perf_counter() - started
            if took > SLOW_JOB_S:
                log.warning("event=slow_write_job ms=%.1f job=%s", took * 1000, getattr(fn, "__qualname__", "?"))
            await self.pool.release(raw)

    # -- once across processes ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Hold a session advisory lock named ``name`` if no other process holds it.

        Yields True when this process got it (run the job), False when another process has it
        (skip). The lock goes with the connection, so a crashed holder releases it at once.
        """
        raw = await self.pool.acquire()
        try:
            got = await raw.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", "meyasubako:" + name)
            try:
                yield bool(got)
            finally:
                if got:
                    await raw.execute("SELECT pg_advisory_unlock(hashtext($1))", "meyasubako:" + name)
        finally:
            await self.pool.release(raw)
