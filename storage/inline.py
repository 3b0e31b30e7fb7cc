"""An aiosqlite-shaped facade over a plain ``sqlite3`` connection that runs statements inline.

Why: the group-commit writer used to send every statement of a write job to aiosqlite's thread
and back (a queue put, a thread wake-up, ``call_soon_threadsafe``, a loop wake-up). A submission's
job is ~12 statements of a few microseconds each, so those hops — not SQLite and not the fsync —
were the writer's cost (~2.3 ms of writer time per submission, bench/README.md). This facade keeps
the API every storage function is written against (``await conn.execute(...)``, ``async with
conn.execute(...) as cur``, ``await cur.fetchone()``), so no job had to be rewritten, but each
call completes synchronously on the event-loop thread: awaiting it never suspends.

What may block stays off the loop: ``Database`` runs BEGIN IMMEDIATE (which can wait up to
busy_timeout for another process's lock), COMMIT (the fsync) and the checkpoints COMMIT triggers
on its own single worker thread, while the writer task awaits them and nothing else touches the
connection. Statements inside a transaction that already holds the write lock never wait for a
lock in WAL mode; a job that runs long shows up as ``event=slow_write_job`` in the log.

The readers stay on aiosqlite: their queries can be long (a board page, an export) and must not
run on the loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterable, Sequence
from typing import Any


class InlineCursor:
    """The parts of ``aiosqlite.Cursor`` the storage layer uses, over a ``sqlite3.Cursor``."""

    __slots__ = ("_cur",)

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    async def fetchone(self) -> Any:
        return self._cur.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cur.fetchmany(size if size is not None else self._cur.arraysize)

    async def close(self) -> None:
        self._cur.close()

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def description(self) -> Any:
        return self._cur.description

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cur.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class _Call:
    """Awaitable and async context manager, like aiosqlite's ``execute()`` result."""

    __slots__ = ("_fn", "_args", "_cursor")

    def __init__(self, fn: Any, *args: Any) -> None:
        self._fn = fn
        self._args = args
        self._cursor: InlineCursor | None = None

    def _run(self) -> InlineCursor:
        return InlineCursor(self._fn(*self._args))

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        return self._run()
        yield  # unreachable: makes this a generator that finishes without ever suspending

    async def __aenter__(self) -> InlineCursor:
        self._cursor = self._run()
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            self._cursor._cur.close()


class InlineConnection:
    """The parts of ``aiosqlite.Connection`` the storage layer uses; every call runs inline."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> _Call:
        return _Call(self.raw.execute, sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> _Call:
        return _Call(self.raw.executemany, sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        return self.raw.execute(sql, parameters).fetchall()

    async def executescript(self, script: str) -> InlineCursor:
        return InlineCursor(self.raw.executescript(script))

    async def commit(self) -> None:
        self.raw.commit()

    async def rollback(self) -> None:
        self.raw.rollback()

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    @property
    def total_changes(self) -> int:
        return self.raw.total_changes

    @property
    def row_factory(self) -> Any:
        return self.raw.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self.raw.row_factory = factory
