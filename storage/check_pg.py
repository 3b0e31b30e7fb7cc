"""``storage.check`` on PostgreSQL: its checks take a synchronous, sqlite3-shaped connection.

The checks are plain SQL written once for both backends (``?`` placeholders, translated as in
``storage.pg``). ``check`` is a one-shot command, so instead of making every check async this
drives one asyncpg connection from a private event loop, inside one REPEATABLE READ read-only
transaction: every check sees the same snapshot while the service keeps writing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg

from storage.endpoint import EndpointError, check_url, open_endpoint
from storage.pg import translate


class _Rows:
    """The parts of ``sqlite3.Cursor`` the checks use (rows are fetched whole)."""

    def __init__(self, rows: list[asyncpg.Record]) -> None:
        self._it = iter(rows)
        self._rows = rows

    def fetchall(self) -> list[asyncpg.Record]:
        return list(self._it)

    def fetchone(self) -> asyncpg.Record | None:
        return next(self._it, None)

    def __iter__(self) -> Iterator[asyncpg.Record]:
        return self._it


class PgSync:
    dialect = "postgresql"
    errors = (asyncpg.PostgresError,)

    def __init__(self, loop: asyncio.AbstractEventLoop, raw: asyncpg.Connection) -> None:
        self._loop = loop
        self._raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        return _Rows(self._loop.run_until_complete(self._raw.fetch(translate(sql), *params)))


@contextlib.contextmanager
def pg_snapshot(url: str) -> Iterator[PgSync]:
    check_url(url)
    loop = asyncio.new_event_loop()
    try:
        ep = loop.run_until_complete(open_endpoint(url))
        raw = ep.raw  # type: ignore[attr-defined]
        try:
            tr = raw.transaction(isolation="repeatable_read", readonly=True)
            loop.run_until_complete(tr.start())
            try:
                yield PgSync(loop, raw)
            finally:
                loop.run_until_complete(tr.rollback())
        finally:
            loop.run_until_complete(ep.close())
    finally:
        loop.close()


__all__ = ["EndpointError", "PgSync", "pg_snapshot"]
