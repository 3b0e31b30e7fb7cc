"""Operations jobs: the retention pass, scheduled backups, and the ``serve`` contexts that run them.

Both scheduled jobs run inside ``serve`` as tracked background tasks (cancelled at shutdown):
  * backups: nightly at MEYASUBAKO_BACKUP_HOUR (JST) into MEYASUBAKO_BACKUP_DIR, keeping the
    newest MEYASUBAKO_BACKUP_KEEP files; off while MEYASUBAKO_BACKUP_DIR is empty;
  * retention: daily at RETENTION_HOUR (JST), erasing the personal data of items finished more
    than MEYASUBAKO_RETENTION_DAYS ago; off when it is 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from meyasubako import clock, keys, privacy
from meyasubako.domain import dumps
from meyasubako.settings import Settings
from storage import backup as bk
from storage import retention as rdb
from storage import shared
from storage.db import Database

log = logging.getLogger("meyasubako.ops")

RETENTION_HOUR = 4  # JST, after the nightly backup, so the last backup before an erasure still has the data
Sleep = Callable[[float], Awaitable[Any]]
CHUNK = 50  # items erased per group commit during a retention pass


@dataclass
class OpsState:
    """What monitoring wants to know about the jobs (exported by /metrics)."""

    started: float = field(default_factory=time.time)
    last_backup_at: float | None = None
    last_backup_ok: bool | None = None
    last_backup_bytes: int = 0
    last_retention_at: float | None = None
    retention_erased_total: int = 0


OPS = web.AppKey("ops", OpsState)


# -- retention --------------------------------------------------------------------------------------
@dataclass
class RetentionReport:
    cutoff: str
    dry_run: bool
    candidates: list[dict[str, Any]] = field(default_factory=list)  # receipt_no, status, closed_at, fields
    erased: list[privacy.Erasure] = field(default_factory=list)


def cutoff_for(now: dt.datetime, days: int) -> str:
    return clock.iso(now - dt.timedelta(days=days))


async def retention_pass(db: Database, *, days: int, files_dir: Path, now: dt.datetime, dry_run: bool = False,
                         nlp: Any = None, limit: int = 10_000) -> RetentionReport:
    """Erase (or with ``dry_run`` only list) items finished at least ``days`` days before ``now``."""
    report = RetentionReport(cutoff_for(now, days), dry_run)
    if days <= 0:
        return report
    async with db.read() as conn:
        for cand in await rdb.closed_before(conn, report.cutoff, limit):
            row = await rdb.submission_row(conn, cand["id"])
            assert row is not None
            report.candidates.append({**cand, "fields": privacy.present_fields(row)})
    if dry_run or not report.candidates:
        return report
    stamp = clock.iso(now)
    async with db.read() as conn:
        tables = await rdb.linked_tables(conn)

    def job_for(sub_id: int):  # type: ignore[no-untyped-def]
        async def job(conn):  # type: ignore[no-untyped-def]
            return await privacy.erase_in_tx(conn, sub_id, reason="retention", actor="system", now=stamp,
                                             files_dir=files_dir, tables=tables)
        return job

    # One job per item, so one bad item cannot undo the rest; queued CHUNK at a time, so that the
    # residents' submissions queued meanwhile wait for at most one chunk, not for the whole backlog.
    results: list[Any] = []
    for i in range(0, len(report.candidates), CHUNK):
        chunk = report.candidates[i:i + CHUNK]
        results += await asyncio.gather(*(db.write(job_for(c["id"])) for c in chunk), return_exceptions=True)
    for cand, res in zip(report.candidates, results, strict=True):
        if isinstance(res, BaseException):
            log.error("event=retention_failed receipt=%s error=%r", cand["receipt_no"], res)
        elif not res.already:
            report.erased.append(res)
            if nlp is not None:
                await nlp.unindex("staff", res.receipt_no)
    if report.erased:
        detail = {"items": len(report.erased), "files": sum(len(e.files) for e in report.erased),
                  "cutoff": report.cutoff, "days": days}

        async def ledger(conn):  # type: ignore[no-untyped-def]
            await rdb.add_log(conn, at=stamp, actor="system", action="erase", reason="retention",
                              receipts=[e.receipt_no for e in report.erased], detail_json=dumps(detail))

        await db.write(ledger)
    log.info("event=retention cutoff=%s candidates=%d erased=%d", report.cutoff, len(report.candidates),
             len(report.erased))
    return report


# -- scheduled backups ------------------------------------------------------------------------------
def scheduled_backup(settings: Settings, now: dt.datetime) -> bk.BackupResult:
    """One nightly backup plus rotation (blocking: run it in an executor)."""
    directory = Path(settings.backup_dir)
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / bk.backup_name(now)
    n = 1
    while out.exists():  # two runs in one second (tests, a manual restart)
        out = directory / bk.backup_name(now).replace(".tar.gz", f"-{n}.tar.gz")
        n += 1
    result = bk.backup(settings.db_path, settings.files_dir, out, now=now)
    removed = bk.rotate(directory, settings.backup_keep)
    log.info("event=backup file=%s bytes=%d submissions=%d files=%d seconds=%.2f rotated=%d", result.path,
             result.bytes, result.counts.get("submissions", 0), result.files, result.seconds, len(removed))
    return result


# -- scheduling -------------------------------------------------------------------------------------
def seconds_until(now: dt.datetime, hour: int) -> float:
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    return (target - now).total_seconds()


async def daily(name: str, hour: int, job: Callable[[], Awaitable[Any]], *, now: clock.Clock = clock.jst_now,
                sleep: Sleep = asyncio.sleep) -> None:
    """Run ``job`` every day at ``hour`` (in ``now``'s time zone) until cancelled; a failure is logged
    and the next day's run still happens."""
    while True:
        await sleep(seconds_until(now(), hour))
        try:
            await job()
        except Exception:
            log.exception("event=job_failed job=%s", name)


async def claimed(app: web.Application, name: str, at: dt.datetime, job: Callable[[], Awaitable[Any]]) -> bool:
    """Run ``job`` if this process is the first to claim today's (JST) run of ``name``.

    Several serve processes on one PostgreSQL database all wake at the scheduled hour; the claim
    (a row keyed by job and day, migration 0080) lets exactly one of them run it. Returns whether
    this process ran it. A crash mid-run leaves the day claimed: the job runs again the next day.
    """
    db = app[keys.DB]
    period, stamp = at.astimezone(clock.JST).date().isoformat(), clock.iso(at)

    async def claim(conn):  # type: ignore[no-untyped-def]
        return await shared.claim_run(conn, name, period, stamp)

    if not await db.write(claim):
        log.info("event=job_skipped job=%s period=%s reason=claimed_elsewhere", name, period)
        return False
    outcome = "ok"
    try:
        await job()
    except Exception as exc:
        outcome = f"failed: {exc!r}"
        raise
    finally:
        async def finish(conn):  # type: ignore[no-untyped-def]
            await shared.finish_run(conn, name, period, clock.iso(clock.jst_now()), outcome)

        await db.write(finish)
    return True


def backup_job(app: web.Application, now: clock.Clock = clock.jst_now) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await claimed(app, "backup", now(), lambda: _backup(app, now))

    return run


async def _backup(app: web.Application, now: clock.Clock) -> None:
    state = app[OPS]
    state.last_backup_at = time.time()
    try:
        res = await asyncio.get_running_loop().run_in_executor(None, scheduled_backup, app[keys.SETTINGS], now())
    except Exception:
        state.last_backup_ok = False
        raise
    state.last_backup_ok, state.last_backup_bytes = True, res.bytes


def retention_job(app: web.Application) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await claimed(app, "retention", app[keys.WORKFLOW].now(), lambda: _retention(app))

    return run


async def _retention(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    report = await retention_pass(app[keys.DB], days=settings.retention_days, files_dir=settings.files_dir,
                                  now=app[keys.WORKFLOW].now(), nlp=app[keys.NLP])
    app[OPS].last_retention_at = time.time()
    app[OPS].retention_erased_total += len(report.erased)


# -- serve contexts ---------------------------------------------------------------------------------
async def serve_lock(app: web.Application) -> AsyncIterator[None]:
    """Registered before the database opens: `restore` refuses a database a server holds."""
    app[OPS] = OpsState()
    if app[keys.SETTINGS].is_postgres:  # no file to restore over; several processes share the server
        yield
        return
    with bk.hold_serve_lock(app[keys.SETTINGS].db_path):
        yield


async def scheduled_jobs(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    tasks: list[asyncio.Task[None]] = []
    if settings.backup_dir:
        tasks.append(asyncio.create_task(daily("backup", settings.backup_hour, backup_job(app)), name="backup"))
        log.info("event=schedule job=backup hour=%d dir=%s keep=%d", settings.backup_hour, settings.backup_dir,
                 settings.backup_keep)
    if settings.retention_days > 0:
        tasks.append(asyncio.create_task(daily("retention", RETENTION_HOUR, retention_job(app)), name="retention"))
        log.info("event=schedule job=retention hour=%d days=%d", RETENTION_HOUR, settings.retention_days)
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
