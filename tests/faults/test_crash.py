"""Crash safety: SIGKILL the server at random moments under load, restart it, and check the data.

What SQLite promises (WAL, synchronous=FULL): a transaction whose COMMIT returned is durable
across a process crash. What we promise on top: a receipt number is shown only after that
COMMIT, so every receipt a resident saw is in the database, with the text they sent, and no
number is ever handed out twice — not even after a crash in the middle of a group commit.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from pathlib import Path

import aiohttp

from bench.harness import FormSession, Server
from tests.faults.conftest import export

CYCLES = int(os.environ.get("MEYASUBAKO_CRASH_CYCLES", "8"))
BROWSERS = 16
SEED = int(os.environ.get("MEYASUBAKO_CRASH_SEED", str(int(time.time()))))


class Ledger:
    """What the residents were told: text -> receipt number (or None when only the 303 arrived)."""

    def __init__(self) -> None:
        self.acked: dict[str, str | None] = {}
        self.sent = 0


async def _resident(url: str, http: aiohttp.ClientSession, ledger: Ledger, cycle: int, who: int) -> None:
    browser = FormSession(http, url)
    n = 0
    try:
        await browser.open()
        while True:
            n += 1
            text = f"道路の穴を直してください。（c{cycle}-b{who}-n{n}）"
            ledger.sent += 1
            resp = await browser.post(text, consent="yes" if n % 2 else "no")
            if resp.status != 303:
                raise AssertionError(f"unexpected status {resp.status} while the server was up")
            ledger.acked[text] = None  # acknowledged: the 303 only comes after the commit
            ledger.acked[text] = await browser.receipt(resp.headers["Location"])
    except (TimeoutError, aiohttp.ClientError, ConnectionError):
        return  # the server was killed under us: whatever was not acknowledged may or may not be stored


async def _cycle(server: Server, ledger: Ledger, cycle: int, delay: float) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as http:
        tasks = [asyncio.create_task(_resident(server.url, http, ledger, cycle, w)) for w in range(BROWSERS)]
        await asyncio.sleep(delay)
        server.kill()  # SIGKILL: no shutdown handler, no cleanup, no final checkpoint
        await asyncio.gather(*tasks)
    assert server.wait(10) == -9


def _check_outbox(conn: sqlite3.Connection) -> None:
    """Outbox invariants that hold whatever the channel: one row per retry key, sent rows have a time.

    When the LINE bot sends through the outbox, the test double's log is the other half of this
    check (tests/faults/test_crash_line.py): each retry key accepted at most once, each row delivered once.
    """
    rows = conn.execute("SELECT retry_key, status, sent_at FROM outbox").fetchall()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys))
    assert all(r[2] for r in rows if r[1] == "sent")


async def test_sigkill_under_load_loses_no_acknowledged_submission(tmp_path: Path, servers: list[Server]) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "crash.sqlite3"
    ledger = Ledger()
    started = time.monotonic()
    for cycle in range(CYCLES):
        server = Server(db, log=tmp_path / "serve.log")
        servers.append(server)
        server.start()
        await _cycle(server, ledger, cycle, delay=rng.uniform(0.2, 1.2))
    elapsed = time.monotonic() - started
    print(f"seed={SEED} cycles={CYCLES} sent={ledger.sent} acked={len(ledger.acked)} in {elapsed:.1f}s")
    assert len(ledger.acked) >= CYCLES, "the load generator never got through; the test proved nothing"

    # The database after the last crash, as SQLite itself sees it.
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # Each submission was committed together with its first audit event.
        assert conn.execute(
            "SELECT COUNT(*) FROM submissions s WHERE NOT EXISTS"
            " (SELECT 1 FROM events e WHERE e.submission_id = s.id AND e.action = 'receive')"
        ).fetchone()[0] == 0
        counters = dict(conn.execute("SELECT year, last FROM receipt_counters").fetchall())
        _check_outbox(conn)
    finally:
        conn.close()

    # ... and as the operator's export prints it (which also opens and migrates it again).
    stored = {rec["text"]: rec["receipt_no"] for rec in export(db)}
    missing = [t for t in ledger.acked if t not in stored]
    assert not missing, f"acknowledged but not stored (seed {SEED}): {missing[:5]}"
    for text, receipt in ledger.acked.items():
        if receipt is not None:
            assert stored[text] == receipt, f"{text}: shown {receipt}, stored {stored[text]}"
    shown = [r for r in ledger.acked.values() if r is not None]
    assert len(shown) == len(set(shown)), "a receipt number was shown twice"
    receipts = list(stored.values())
    assert len(receipts) == len(set(receipts))
    for r in receipts:  # the counter is past every number ever issued, so none can come again
        year, number = r.split("-")
        assert counters[int(year)] >= int(number)

    # The service starts on the crashed database and goes on numbering after the last receipt.
    server = Server(db, log=tmp_path / "serve.log")
    servers.append(server)
    server.start()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        browser = FormSession(http, server.url)
        await browser.open()
        status, receipt = await browser.submit("再起動後の投稿です。街灯が消えています。")
    assert status == 303 and receipt is not None and receipt not in receipts
    assert int(receipt.split("-")[1]) > max(int(r.split("-")[1]) for r in receipts if r.startswith(receipt[:4]))
    assert server.stop() == 0
