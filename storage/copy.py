"""Copy a whole installation's database between backends (SQLite -> PostgreSQL, and back).

What a copy guarantees:
- the source is read in ONE snapshot (SQLite: one read transaction on a read-only connection;
  PostgreSQL: one REPEATABLE READ read-only transaction) and never written;
- the target is written in ONE transaction: a failure anywhere (a constraint, a lost connection,
  the verification) rolls everything back and leaves the target as it was;
- both sides are at the same schema version (the target is migrated first; a source that is
  behind or ahead of this program is refused), the target holds no data of its own, and the two
  have the same tables: a table neither :data:`ORDER` nor :data:`NOT_COPIED` names stops the copy;
- ids (primary keys, FTS rowids) are preserved, so receipt numbers, links, events and the search
  indexes keep pointing at the same rows; PostgreSQL identity sequences are moved past the copied
  ids, and receipt counters are copied, so new rows never reuse a number;
- before COMMIT the row count of every table is compared with the source's.

Columns are read from each side's catalog, not listed here; a column the target lacks stops the
copy (its data would be lost). Only the table ORDER is written down, because it follows the foreign
keys (a row is inserted after the rows it refers to).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from storage import migrations
from storage.connect import is_postgres_url, sqlite_path
from storage.endpoint import Endpoint, PgEndpoint, SqliteEndpoint, open_endpoint

# Parents before children (foreign keys); the FTS indexes last, beside the rows they index.
ORDER = [
    "sections", "users", "submissions", "events", "answers", "notes", "answer_templates", "admin_audit",
    "outbox", "line_inbox", "line_users", "line_drafts", "attachments", "privacy_log", "receipt_counters",
    "shared_state", "job_runs", "public_generation", "staff_fts", "public_fts", "public_related_lists",
    "public_related",
]
NOT_COPIED = {"schema_version"}  # each side records its own migrations
# Rows a fresh, never-used target already has: the section catalog (seeded at start-up), the public
# page generation (inserted by its migration), and what a serve started on it writes by itself (the
# router model it trained from nothing, the scheduled jobs it claimed). They are replaced by the
# source's, not counted as "data".
PRESEEDED = {"sections", "public_generation", "shared_state", "job_runs"}
DEFAULT_BATCH = 1000


class CopyError(Exception):
    """The copy was refused or failed (and rolled back); the message says why."""


@dataclass
class TableCopy:
    name: str
    rows: int
    seconds: float


@dataclass
class CopyResult:
    source: str
    target: str
    schema_version: int
    tables: list[TableCopy] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def _to_pg(kind: str) -> Callable[[Any], Any]:
    """A SQLite value as the Python type asyncpg's binary COPY wants for the PostgreSQL column."""
    if kind in ("bigint", "integer", "smallint"):
        return int
    if kind in ("double precision", "real", "numeric"):
        return float
    if kind == "text":
        return lambda v: v if isinstance(v, str) else str(v)
    return lambda v: v


async def _check_versions(src: Endpoint, dst: Endpoint) -> int:
    latest = migrations.latest_version()
    have = await migrations.current_version(src.conn)
    if have == 0:
        raise CopyError(f"{src.label} is not a meyasubako database (no schema_version table)")
    if have > latest:
        raise CopyError(f"source schema version {have} is newer than this program ({latest}): "
                        "copy with the meyasubako version that migrated it")
    missing = await migrations.missing_versions(src.conn)
    if missing:
        raise CopyError(f"source schema is behind (missing migrations {missing}): run "
                        f"`meyasubako migrate --db SOURCE` first (the copy never writes to its source)")
    target_version = await migrations.current_version(dst.conn)
    if target_version > latest:
        raise CopyError(f"target schema version {target_version} is newer than this program ({latest})")
    return have


async def _check_empty(dst: Endpoint) -> None:
    present = set(await dst.tables())
    busy = [f"{t} ({n} rows)" for t in ORDER if t in present and t not in PRESEEDED
            for n in [await dst.count(t)] if n]
    if busy:
        raise CopyError(f"target {dst.label} already holds data: {', '.join(busy)}. "
                        "Copy only into an empty database (create a new one, or drop and re-create it)")


async def _check_tables(src: Endpoint, dst: Endpoint) -> None:
    for side in (src, dst):
        unknown = sorted(set(await side.tables()) - set(ORDER) - NOT_COPIED)
        if unknown:
            raise CopyError(f"{side.label} has tables this copy does not know: {unknown} "
                            "(storage/copy.py ORDER must list every table)")
        absent = [t for t in ORDER if t not in await side.tables()]
        if absent:
            raise CopyError(f"{side.label} lacks tables {absent}: not a complete meyasubako schema")


async def _columns(src: Endpoint, dst: Endpoint, table: str) -> list[str]:
    src_cols = {c.name for c in await src.columns(table)}
    dst_cols = [c.name for c in await dst.columns(table)]
    lost = sorted(src_cols - set(dst_cols))
    if lost:
        raise CopyError(f"{table}: the target has no column(s) {lost}; their data would be lost")
    absent = [c for c in dst_cols if c not in src_cols]
    if absent:
        raise CopyError(f"{table}: the source has no column(s) {absent}; the schemas differ")
    return dst_cols


async def _read_batches(src: Endpoint, table: str, cols: Sequence[str], batch: int):  # type: ignore[no-untyped-def]
    sql = f"SELECT {', '.join(cols)} FROM {table} ORDER BY {cols[0]}"
    if isinstance(src, SqliteEndpoint):
        cur = src.raw.execute(sql)
        try:
            while rows := cur.fetchmany(batch):
                yield [tuple(r) for r in rows]
        finally:
            cur.close()
    else:
        assert isinstance(src, PgEndpoint)
        cur = await src.raw.cursor(sql)
        while rows := await cur.fetch(batch):
            yield [tuple(r) for r in rows]


async def _write_batch(dst: Endpoint, table: str, cols: Sequence[str], kinds: dict[str, str],
                       rows: list[tuple]) -> None:
    if isinstance(dst, PgEndpoint):
        conv = [_to_pg(kinds[c]) for c in cols]
        records = [tuple(None if v is None else f(v) for f, v in zip(conv, r, strict=True)) for r in rows]
        # COPY: one round trip per batch instead of one per row.
        await dst.raw.copy_records_to_table(table, records=records, columns=list(cols))
    else:
        assert isinstance(dst, SqliteEndpoint)
        marks = ", ".join("?" * len(cols))
        dst.raw.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)


async def _copy_generation(src: Endpoint, dst: Endpoint) -> int:
    """The public pages' cache generation: the target's becomes larger than both sides' values, so a
    page cached from the empty target (or the source) is never taken for current."""
    async with src.conn.execute("SELECT n FROM public_generation WHERE id = 1") as cur:
        row = await cur.fetchone()
    src_n = int(row[0]) if row else 0
    top = "GREATEST" if dst.dialect == "postgresql" else "MAX"
    cur = await dst.conn.execute(f"UPDATE public_generation SET n = {top}(n, ?) + 1 WHERE id = 1", (src_n,))
    if cur.rowcount == 0:
        await dst.conn.execute("INSERT INTO public_generation (id, n) VALUES (1, ?)", (src_n + 1,))
    return 1


async def _reset_identities(dst: PgEndpoint) -> None:
    """Move every identity sequence past the largest copied id (COPY with explicit ids leaves it at 1)."""
    for table in ORDER:
        for col in await dst.columns(table):
            if col.identity:
                await dst.raw.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{col.name}'),"
                    f" COALESCE(MAX({col.name}), 0) + 1, false) FROM {table}")


async def _quiet_triggers(dst: Endpoint) -> bool:
    """PostgreSQL: switch the target's triggers off for this transaction (ALTER TABLE is transactional,
    so they are back on after COMMIT or ROLLBACK). The only ones are the public-generation bumps,
    which :func:`_copy_generation` replaces by one bump; fired per row they UPDATE one row 100,000
    times, and every update leaves a dead row version behind (measured: 50,000 published items took
    130 s with them, seconds without). Needs to own the tables; without that they stay on (slower)."""
    if not isinstance(dst, PgEndpoint):
        return False  # SQLite's trigger updates the row in place: cheap
    try:
        async with dst.raw.transaction():  # a savepoint: a refusal does not abort the copy
            for table in ORDER:
                await dst.raw.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    except asyncpg.exceptions.InsufficientPrivilegeError:
        return False
    return True


async def _copy_tables(src: Endpoint, dst: Endpoint, batch: int, result: CopyResult) -> None:
    quiet = await _quiet_triggers(dst)
    for table in ORDER:
        started = time.perf_counter()
        if table == "public_generation":
            n = await _copy_generation(src, dst)
            result.tables.append(TableCopy(table, n, time.perf_counter() - started))
            continue
        cols = await _columns(src, dst, table)
        kinds = {c.name: c.type for c in await dst.columns(table)}
        if table in PRESEEDED:
            await dst.conn.execute(f"DELETE FROM {table}")
        n = 0
        async for rows in _read_batches(src, table, cols, batch):
            await _write_batch(dst, table, cols, kinds, rows)
            n += len(rows)
        result.tables.append(TableCopy(table, n, time.perf_counter() - started))
    if isinstance(dst, PgEndpoint):
        await _reset_identities(dst)
        if quiet:
            for table in ORDER:
                await dst.raw.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


async def _verify(src: Endpoint, dst: Endpoint, result: CopyResult) -> None:
    wrong = []
    for t in result.tables:
        want, got = await src.count(t.name), await dst.count(t.name)
        if not (want == got == t.rows):
            wrong.append(f"{t.name}: source {want}, copied {t.rows}, target {got}")
    if wrong:
        raise CopyError("verification failed, nothing was committed: " + "; ".join(wrong))
    if isinstance(dst, SqliteEndpoint):
        bad = dst.raw.execute("PRAGMA foreign_key_check").fetchall()
        if bad:
            raise CopyError(f"verification failed, nothing was committed: {len(bad)} foreign key problem(s), "
                            f"e.g. {tuple(bad[0])}")


async def copy_database(source: str, target: str, *, batch: int = DEFAULT_BATCH) -> CopyResult:
    """Copy every row of ``source`` into the empty database ``target`` (see the module docstring).

    Raises CopyError (refused, or failed and rolled back) or storage.endpoint.EndpointError
    (cannot open one of them)."""
    if batch < 1:
        raise CopyError("--batch must be at least 1")
    started = time.perf_counter()
    src = await open_endpoint(source, readonly=True)
    try:
        fresh = None if is_postgres_url(target) or sqlite_path(target).exists() else sqlite_path(target)
        dst = await open_endpoint(target, create=True)
        try:
            if isinstance(src, SqliteEndpoint) and isinstance(dst, SqliteEndpoint) and (
                    src.path.resolve() == dst.path.resolve()):
                raise CopyError("source and target are the same database")
            version = await _check_versions(src, dst)
            await _check_empty(dst)
            await migrations.migrate(dst.conn)  # an empty target gets the schema (or stays as it is)
            await _check_tables(src, dst)
            result = CopyResult(src.label, dst.label, version)
            await _in_transactions(src, dst, lambda: _copy_and_verify(src, dst, batch, result))
            result.seconds = time.perf_counter() - started
            return result
        except BaseException:
            await dst.close()
            if fresh is not None:  # a SQLite file this copy created: nothing of it stays behind
                for leftover in (fresh, fresh.with_name(fresh.name + "-wal"), fresh.with_name(fresh.name + "-shm")):
                    leftover.unlink(missing_ok=True)
            raise
        finally:
            await dst.close()
    finally:
        await src.close()


async def _copy_and_verify(src: Endpoint, dst: Endpoint, batch: int, result: CopyResult) -> None:
    # Checked again inside the target transaction: a serve that started on the target meanwhile
    # and took a submission makes the copy stop rather than merge into it.
    await _check_empty(dst)
    await _copy_tables(src, dst, batch, result)
    await _verify(src, dst, result)


async def _in_transactions(src: Endpoint, dst: Endpoint, body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` with the source in one read snapshot and the target in one write transaction."""
    if isinstance(src, PgEndpoint):
        src_tr = src.raw.transaction(isolation="repeatable_read", readonly=True)
        await src_tr.start()
    else:
        assert isinstance(src, SqliteEndpoint)
        src.raw.execute("BEGIN")
        src.raw.execute("SELECT COUNT(*) FROM schema_version").fetchone()  # the snapshot starts here
    try:
        if isinstance(dst, PgEndpoint):
            async with dst.raw.transaction():
                await body()
        else:
            assert isinstance(dst, SqliteEndpoint)
            dst.raw.execute("BEGIN IMMEDIATE")
            try:
                await body()
            except BaseException:
                dst.raw.execute("ROLLBACK")
                raise
            dst.raw.execute("COMMIT")
    finally:
        if isinstance(src, PgEndpoint):
            await src_tr.rollback()
        else:
            src.raw.execute("ROLLBACK")
