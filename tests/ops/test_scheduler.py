"""Scheduled jobs inside serve: nightly backups with rotation, daily retention, on a simulated clock."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from meyasubako import keys, ops
from meyasubako.clock import JST
from storage import backup as bk
from tests.conftest import submit
from tests.ops.helpers import FakeClock


def test_seconds_until_the_next_run():
    at = dt.datetime(2026, 4, 1, 2, 30, tzinfo=JST)
    assert ops.seconds_until(at, 3) == 30 * 60
    assert ops.seconds_until(at.replace(hour=3, minute=0), 3) == 24 * 3600  # just ran: tomorrow
    assert ops.seconds_until(at.replace(hour=23, minute=59, second=59), 0) == 1


class FakeSleep:
    """Advances the fake clock instead of waiting; stops the loop after ``runs`` wake-ups."""

    def __init__(self, clock: FakeClock, runs: int) -> None:
        self.clock, self.left, self.asked = clock, runs, []

    async def __call__(self, seconds: float) -> None:
        if self.left == 0:
            raise asyncio.CancelledError
        self.left -= 1
        self.asked.append(seconds)
        self.clock.advance(seconds=seconds)


async def test_nightly_backups_rotate(make_client, settings, tmp_path):
    backups = tmp_path / "backups"
    client = await make_client(settings.with_overrides(backup_dir=str(backups), backup_keep=2, backup_hour=3))
    await submit(client, "公民館の予約方法を教えてください。")
    clock = FakeClock(dt.datetime(2026, 4, 1, 22, 0, tzinfo=JST))
    sleep = FakeSleep(clock, runs=4)
    with pytest.raises(asyncio.CancelledError):
        await ops.daily("backup", 3, ops.backup_job(client.app, now=clock), now=clock, sleep=sleep)
    assert sleep.asked == [5 * 3600, 24 * 3600, 24 * 3600, 24 * 3600]
    names = sorted(p.name for p in backups.iterdir())
    assert names == ["meyasubako-backup-20260404T030000.tar.gz", "meyasubako-backup-20260405T030000.tar.gz"]
    manifest, _ = bk.read_manifest(backups / names[-1])
    assert manifest["counts"]["submissions"] == 1
    state = client.app[ops.OPS]
    assert state.last_backup_ok is True and state.last_backup_bytes > 0
    text = await (await client.get("/metrics")).text()
    assert "meyasubako_last_backup_success 1" in text


async def test_a_failing_job_is_logged_and_tomorrow_still_runs(caplog):
    clock = FakeClock()
    calls = []

    async def job() -> None:
        calls.append(clock())
        raise OSError("disk full")

    with pytest.raises(asyncio.CancelledError):
        await ops.daily("backup", 3, job, now=clock, sleep=FakeSleep(clock, runs=2))
    assert len(calls) == 2 and "event=job_failed job=backup" in caplog.text


async def test_backup_failure_is_visible_in_metrics(make_client, settings, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    client = await make_client(settings.with_overrides(backup_dir=str(blocker)))
    with pytest.raises(OSError):
        await ops.backup_job(client.app)()
    assert "meyasubako_last_backup_success 0" in await (await client.get("/metrics")).text()


async def test_scheduled_tasks_start_with_serve_and_stop_with_it(make_client, settings, tmp_path):
    client = await make_client(settings.with_overrides(backup_dir=str(tmp_path / "b")))
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert {"backup", "retention"} <= names
    await client.close()
    await asyncio.sleep(0)
    assert not {"backup", "retention"} & {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    client = await make_client(settings.with_overrides(retention_days=0, db=str(tmp_path / "other.sqlite3")))
    assert not {"backup", "retention"} & {t.get_name() for t in asyncio.all_tasks()}


async def test_retention_job_uses_the_workflow_clock(make_client, settings):
    client = await make_client(settings.with_overrides(retention_days=30))
    app = client.app
    clock = FakeClock()
    app[keys.WORKFLOW].now = clock
    await submit(client, "ごみの分別方法がわかりにくい。", contact="x@example.jp")
    from tests.conftest import add_user

    user = await add_user(app, "koucho", "approver")
    receipt = (await app[keys.WORKFLOW].close("2026-000001", "private", user)).receipt_no
    clock.advance(days=31)
    await ops.retention_job(app)()
    assert app[ops.OPS].retention_erased_total == 1 and receipt == "2026-000001"
