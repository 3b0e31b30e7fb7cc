"""The storage interface on both backends, and what several processes on one database rely on.

"Two processes" here are two independent database handles (each its own pool or writer) on one
database, used concurrently: what two ``meyasubako serve`` processes do (tests/test_two_serves.py
runs real ones). Tables of hostile search words and races; every test runs on SQLite and on
PostgreSQL unless it is about a PostgreSQL mechanism (advisory locks, SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from meyasubako.domain import Channel, InvalidTransition, NewSubmission
from meyasubako.workflow import Workflow
from storage import line as line_db
from storage import migrations, shared
from storage import outbox as outbox_db
from storage import queue as queue_db
from storage import submissions as subs
from storage.connect import make_database

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL
pg_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def test_every_sqlite_migration_has_a_postgresql_twin():
    lite = [(m.version, m.name) for m in migrations.available("sqlite")]
    pg = [(m.version, m.name) for m in migrations.available("postgresql")]
    assert lite == pg and len(lite) >= 9


@pytest.fixture
async def two(db_url):  # type: ignore[no-untyped-def]
    """Two handles on one database, as two serve processes have."""
    a, b = make_database(db_url), make_database(db_url)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_migrate_then_reopen_is_a_noop(db_url):
    db = make_database(db_url)
    await db.open()
    assert await db.schema_version() == migrations.latest_version()
    async with db.read() as conn:
        assert await migrations.missing_versions(conn) == []
    await db.close()
    db = make_database(db_url)
    await db.open()  # a second start applies nothing and loses nothing
    async with db.read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM schema_version") as cur:
            assert (await cur.fetchone())[0] == len(migrations.available(db.dialect))
    await db.close()


async def test_receipt_numbers_unique_and_gapless_across_two_handles(two):
    a, b = two

    async def take(db):  # type: ignore[no-untyped-def]
        return await db.write(lambda conn: subs.next_receipt_no(conn, 2026))

    got = await asyncio.gather(*[take(a if i % 2 else b) for i in range(60)])
    assert sorted(got) == [f"2026-{i:06d}" for i in range(1, 61)]


async def test_a_failing_job_leaves_nothing_and_others_commit(db_url):
    db = make_database(db_url)
    await db.open()

    async def bad(conn):  # type: ignore[no-untyped-def]
        await conn.execute("INSERT INTO sections (id, name) VALUES ('x1', 'エックス')")
        raise ValueError("boom")

    async def good(conn):  # type: ignore[no-untyped-def]
        await conn.execute("INSERT INTO sections (id, name) VALUES ('x2', 'ワイ')")
        return "ok"

    results = await asyncio.gather(db.write(bad), db.write(good), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1] == "ok"
    async with db.read() as conn:
        async with conn.execute("SELECT id FROM sections WHERE id IN ('x1', 'x2') ORDER BY id") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["x2"]
    await db.close()


async def test_readers_cannot_write(db_url):
    db = make_database(db_url)
    await db.open()
    with pytest.raises(Exception):  # noqa: B017 - sqlite3 and asyncpg raise their own read-only errors
        async with db.read() as conn:
            await conn.execute("INSERT INTO sections (id, name) VALUES ('x3', 'ゼット')")
    async with db.read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM sections WHERE id = 'x3'") as cur:
            assert (await cur.fetchone())[0] == 0
    await db.close()


async def _stored(db, text: str, terms: list[str]) -> str:  # type: ignore[no-untyped-def]
    async def job(conn):  # type: ignore[no-untyped-def]
        receipt = await subs.next_receipt_no(conn, 2026)
        new = NewSubmission(channel=Channel.WEB, text=text, consent=True)
        sub = await subs.insert(conn, new, receipt_no=receipt, token_hash=uuid.uuid4().hex,
                                analysis={"terms": terms}, now="2026-11-30T09:00:00+09:00")
        return sub.receipt_no

    return await db.write(job)


# Search words as residents and attackers type them: FTS5 and tsquery operators must be data.
HOSTILE_WORDS = ["'", '"', "\\", "&", "|", "!", ":*", "a:*", "(", ")", "<->", "NEAR", "AND", "OR", "NOT",
                 "*", "'; DROP TABLE submissions; --", "ごみ' & '道路", "\x00", "\x7f", "𠮷", "ｺﾞﾐ"]


async def test_staff_search_is_an_and_of_terms_and_operators_are_data(db_url):
    db = make_database(db_url)
    await db.open()
    r1 = await _stored(db, "ゴミ 収集 遅い", ["ゴミ", "収集", "遅い"])
    r2 = await _stored(db, "ゴミ 道路", ["ゴミ", "道路"])
    await _stored(db, "it's & | !", ["it's", "&", "|", "!"])

    async def found(terms: list[str]) -> set[str]:
        async with db.read() as conn:
            page = await queue_db.list_queue(conn, queue_db.QueueFilter(sections=None, terms=terms))
        return {s.receipt_no for s in page.items}

    assert await found(["ゴミ"]) == {r1, r2}
    assert await found(["ゴミ", "道路"]) == {r2}
    assert await found(["ゴミ", "公園"]) == set()
    odd = await found(["it's"])
    assert len(odd) == 1
    for word in HOSTILE_WORDS:  # never an error; operator characters only find rows that hold them
        if not subs.fts_query([word]):  # nothing searchable left (control characters): no filter at all
            continue
        assert await found([word]) <= odd, word
    await db.close()


async def test_concurrent_actions_on_one_item_take_turns(two):
    """Two clerks in two processes close the same item at the same moment: one wins, the other
    gets the polite refusal, and the audit trail has exactly one closing."""
    a, b = two
    wa, wb = Workflow(a, nlp=None), Workflow(b, nlp=None)  # type: ignore[arg-type]
    from meyasubako.domain import Role, User

    user = User(id=1, name="koucho", role=Role.APPROVER, section=None, active=True)
    receipt = await _stored(a, "街灯が消えています", ["街灯", "消える"])
    results = await asyncio.gather(wa.close(receipt, "out_of_scope", user), wb.close(receipt, "out_of_scope", user),
                                   return_exceptions=True)
    assert sum(isinstance(r, InvalidTransition) for r in results) == 1, results
    async with a.read() as conn:
        sub = await subs.by_receipt(conn, receipt)
        events = await subs.events_for(conn, sub.id)
    assert [e.action for e in events].count("close") == 1


async def test_a_scheduled_job_period_is_claimed_once(two):
    a, b = two

    def claim(db):  # type: ignore[no-untyped-def]
        return db.write(lambda conn: shared.claim_run(conn, "retention", "2026-11-30", "2026-11-30T04:00:00+09:00"))

    got = await asyncio.gather(*[claim(a if i % 2 else b) for i in range(8)])
    assert sorted(got) == [False] * 7 + [True]
    assert await claim(a) is False
    assert await a.write(lambda conn: shared.claim_run(conn, "retention", "2026-12-01", "x")) is True


async def test_shared_state_generations_only_grow(two):
    a, b = two
    gens = await asyncio.gather(*[
        (a if i % 2 else b).write(lambda conn, i=i: shared.store(conn, "router_model", f'{{"n": {i}}}', "now"))
        for i in range(6)
    ])
    assert sorted(gens) == [1, 2, 3, 4, 5, 6]
    async with b.read() as conn:
        assert await shared.generation(conn, "router_model") == 6


async def test_one_webhook_event_stored_once_whichever_process_gets_it(two):
    a, b = two
    ev = line_db.NewInboxEvent(event_id="01HXYZ" + "0" * 20, user_id="U" + "1" * 32, type="message",
                               body={"type": "message"}, redelivery=False, reply_deadline=None)

    async def store(db):  # type: ignore[no-untyped-def]
        return await db.write(lambda conn: line_db.insert_events(conn, [ev], "2026-11-30T09:00:00+09:00"))

    got = await asyncio.gather(*[store(a if i % 2 else b) for i in range(10)])
    assert sum(len(g) for g in got) == 1
    async with a.read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM line_inbox") as cur:
            assert (await cur.fetchone())[0] == 1


@pg_only
async def test_outbox_rows_are_claimed_by_exactly_one_process(two):
    """SKIP LOCKED: concurrent claims from two processes never hand out one row twice."""
    a, b = two

    async def fill(conn):  # type: ignore[no-untyped-def]
        for i in range(60):
            await outbox_db.enqueue(conn, kind="push", recipient=f"U{i:032d}", messages=[{"type": "text", "text": "x"}],
                                    retry_key=str(uuid.uuid4()), now="2026-11-30T09:00:00+09:00")

    await a.write(fill)

    async def claimer(db):  # type: ignore[no-untyped-def]
        mine: list[int] = []
        while True:
            rows = await db.write(lambda conn: outbox_db.claim_due(
                conn, now="2026-11-30T09:00:01+09:00", lease_until="2026-11-30T09:05:00+09:00", limit=4))
            if not rows:
                return mine
            mine += [r.id for r in rows]

    got = await asyncio.gather(*[claimer(a if i % 2 else b) for i in range(6)])
    every = [i for g in got for i in g]
    assert len(every) == 60 and len(set(every)) == 60


@pg_only
async def test_advisory_lock_lets_one_process_run_a_job(two):
    a, b = two
    async with a.exclusive("retrain") as first:
        async with b.exclusive("retrain") as second:
            assert first is True and second is False
    async with b.exclusive("retrain") as again:
        assert again is True  # released when the holder is done


@pg_only
async def test_an_event_is_applied_once_when_two_processes_race(two):
    """Both processes saw the event pending; the row lock makes the second one find it done."""
    a, b = two
    ev = line_db.NewInboxEvent(event_id="01HRACE" + "0" * 19, user_id="U" + "2" * 32, type="message",
                               body={"type": "message"}, redelivery=False, reply_deadline=None)
    [row] = await a.write(lambda conn: line_db.insert_events(conn, [ev], "2026-11-30T09:00:00+09:00"))

    def apply(db):  # type: ignore[no-untyped-def]
        async def job(conn):  # type: ignore[no-untyped-def]
            if await line_db.is_processed(conn, row.seq):
                return False
            await asyncio.sleep(0.05)  # the other process reads meanwhile
            await line_db.mark_processed(conn, row.seq, "ok", "2026-11-30T09:00:01+09:00")
            return True

        return db.write(job)

    assert sorted(await asyncio.gather(apply(a), apply(b))) == [False, True]
