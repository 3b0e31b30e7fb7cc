"""Disk full and a read-only database: a clear 503, never a false acknowledgement, recovery after.

Two ways to make SQLite refuse writes:
  * on any machine, inside the real app: ``PRAGMA max_page_count`` at the current size makes the
    writer's next page allocation fail with SQLITE_FULL, and ``PRAGMA query_only`` makes every
    write fail with SQLITE_READONLY, exactly the errors a full disk or a read-only file give;
  * where the test may mount file systems (root, as in CI containers): the real thing, a small
    tmpfs holding the database, filled to the last byte with a filler file while ``serve`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bench.harness import FormSession, Server
from meyasubako import keys
from tests.conftest import receipt_of, submit

UNAVAILABLE = "ただいま受付を一時停止しています"
NOT_SAVED = "内容は保存されていません"


async def _pragma(app, sql: str) -> object:  # type: ignore[no-untyped-def]
    """Run a PRAGMA on the writer connection, through the writer (the fault is injected, not mocked)."""

    async def job(conn):  # type: ignore[no-untyped-def]
        async with conn.execute(sql) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    return await app[keys.DB].write(job)


async def _texts(app) -> set[str]:  # type: ignore[no-untyped-def]
    async with app[keys.DB].read() as conn, conn.execute("SELECT text FROM submissions") as cur:
        return {r[0] for r in await cur.fetchall()}


def _assert_refused(status: int, html: str) -> None:
    assert status == 503
    assert UNAVAILABLE in html and NOT_SAVED in html
    assert "受付番号" not in html


async def test_disk_full_answers_503_and_recovers(client) -> None:  # type: ignore[no-untyped-def]
    ok_texts, refused = [], []
    status, html = await submit(client, "満杯になる前の投稿です。公園のベンチが壊れています。")
    assert status == 200
    ok_texts.append("満杯になる前の投稿です。公園のベンチが壊れています。")
    pages = await _pragma(client.app, "PRAGMA page_count")
    assert await _pragma(client.app, f"PRAGMA max_page_count = {pages}") == pages
    # Rows may still fit into free space on pages already allocated; the first page the writer
    # needs beyond that must fail. Never a receipt for a row that is not there.
    for i in range(60):
        text = f"満杯のディスクへの投稿{i}：道路に穴があいています。" + "詳しく説明します。" * 40
        resp_status, html = await submit(client, text)
        if resp_status == 200:
            ok_texts.append(text)
            receipt_of(html)
            continue
        _assert_refused(resp_status, html)
        refused.append(text)
        if len(refused) >= 3:
            break
    assert len(refused) >= 3, "the database never filled up: the test proved nothing"
    # Reads go on while writes are refused: the notice board and health answer.
    assert (await client.get("/")).status == 200
    resp = await client.get("/submit")
    assert resp.status == 200

    await _pragma(client.app, "PRAGMA max_page_count = 1073741823")  # space is back
    status, html = await submit(client, "復旧後の投稿です。街灯が消えています。")
    assert status == 200 and receipt_of(html)
    stored = await _texts(client.app)
    assert set(ok_texts) <= stored
    assert not stored & set(refused)
    assert "復旧後の投稿です。街灯が消えています。" in stored


async def test_disk_full_response_carries_retry_after(client) -> None:  # type: ignore[no-untyped-def]
    await submit(client, "最初の投稿です。")
    await _pragma(client.app, "PRAGMA max_page_count = 1")  # below the current size: no page can be added
    page = await client.get("/submit")
    html = await page.text()
    from tests.conftest import csrf_of

    token = csrf_of(html)
    for i in range(40):
        resp = await client.post("/submit", data={"csrf_token": token, "form_id": uuid.uuid4().hex, "consent": "yes",
                                                  "text": f"投稿{i}" + "長い本文です。" * 200})
        if resp.status == 503:
            assert resp.headers["Retry-After"] == "60"
            assert resp.headers["Content-Security-Policy"]
            _assert_refused(resp.status, await resp.text())
            return
        assert resp.status == 200  # followed the 303 to the receipt page
    pytest.fail("never refused")


async def test_read_only_database_answers_503_and_recovers(client) -> None:  # type: ignore[no-untyped-def]
    await _pragma(client.app, "PRAGMA query_only = ON")
    before = await _texts(client.app)
    status, html = await submit(client, "読み取り専用のときの投稿です。")
    _assert_refused(status, html)
    assert await _texts(client.app) == before
    # BEGIN itself is refused now, so the switch back cannot go through the writer's queue; the
    # writer is idle between requests, so setting it on its connection directly is safe here.
    await client.app[keys.DB]._writer.execute("PRAGMA query_only = OFF")
    status, html = await submit(client, "書き込みが戻った後の投稿です。")
    assert status == 200 and receipt_of(html)
    assert "読み取り専用のときの投稿です。" not in await _texts(client.app)


# -- the real thing: a full file system under a running `serve` ----------------------------------------
@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path) -> Path:
    """Write zeros until the file system says ENOSPC."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 16, 512):  # big blocks first, then the last crumbs
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


async def test_full_file_system_under_serve(tmp_path: Path, servers: list[Server]) -> None:
    with _tmpfs(tmp_path / "disk", "6m") as disk:
        db = disk / "meyasubako.sqlite3"
        server = Server(db, log=tmp_path / "serve.log")
        servers.append(server)
        server.start()
        acked: list[str] = []
        refused: list[str] = []
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            browser = FormSession(http, server.url)
            await browser.open()
            status, receipt = await browser.submit("空きがあるときの投稿です。")
            assert status == 303 and receipt
            acked.append("空きがあるときの投稿です。")
            filler = _fill(disk)
            for i in range(400):
                text = f"ディスクが一杯のときの投稿{i}。" + "歩道の段差が危ないです。" * 30
                resp = await browser.post(text)
                if resp.status == 303:
                    acked.append(text)  # went into WAL space SQLite already had: durable, fine
                    continue
                assert resp.status == 503, resp.status
                async with http.post(server.url + "/submit", data={"csrf_token": browser.csrf, "text": text,
                                                                   "consent": "yes", "form_id": uuid.uuid4().hex},
                                     headers={"Cookie": f"meyasubako_session={browser.cookie}"}) as again:
                    _assert_refused(again.status, await again.text())
                refused.append(text)
                break
            assert refused, "the file system never filled up: the test proved nothing"
            print(f"after the disk filled: {len(acked) - 1} stored into space SQLite had, then 503")
            async with http.get(server.url + "/healthz") as health:
                assert health.status in (200, 503)  # reads may go on; either way an honest answer

            filler.unlink()  # the operator frees space
            await asyncio.sleep(0.1)
            status, receipt = await browser.submit("空きが戻った後の投稿です。")
            assert status == 303 and receipt, "the service did not recover when space came back"
            acked.append("空きが戻った後の投稿です。")
        assert server.stop() == 0
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {r[0] for r in conn.execute("SELECT text FROM submissions")}
        finally:
            conn.close()
        assert set(acked) <= stored
        assert not stored & set(refused)
