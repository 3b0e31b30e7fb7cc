"""The public page cache: hits for repeated views, never a stale page after a change, no per-user content."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from handlers import cache as page_cache
from meyasubako import keys
from storage import sections as sections_db
from tests.conftest import submit
from tests.public.conftest import approver, make_item


def _cache(client) -> page_cache.PublicCache:  # type: ignore[no-untyped-def]
    return client.app[page_cache.PUBLIC_CACHE]


async def _get(client, path: str) -> str:  # type: ignore[no-untyped-def]
    resp = await client.get(path)
    assert resp.status == 200
    return await resp.text()


async def test_repeated_views_are_served_from_the_cache_with_security_headers(client):
    user = await approver(client.app)
    made = await make_item(client.app, "公園のベンチが壊れています。", user=user, section="park",
                           summary="公園のベンチを直してほしい。", answer="来月修理します。")
    c = _cache(client)
    for path in ("/", f"/voices/{made.receipt_no}", "/?q=公園"):
        first = await _get(client, path)
        hits = c.hits
        resp = await client.get(path)
        assert resp.status == 200 and await resp.text() == first
        assert c.hits == hits + 1, path
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in resp.headers
    assert (await client.head("/")).status == 200


async def test_publish_unpublish_and_answers_show_at_once(client):
    app = client.app
    user = await approver(app)
    first = await make_item(app, "図書館の開館時間を延ばしてほしい。", user=user, section="education",
                            summary="図書館の開館時間を延ばしてほしい。", answer="来年度から延長します。")
    await _get(client, "/")
    await _get(client, "/?q=図書館")
    second = await make_item(app, "図書館に自習室がほしい。", user=user, section="education",
                             summary="図書館に自習室を作ってほしい。", answer="検討します。")
    assert second.receipt_no in await _get(client, "/")
    assert second.receipt_no in await _get(client, "/?q=図書館")
    page = await _get(client, f"/voices/{first.receipt_no}")
    await app[keys.WORKFLOW].unpublish(first.receipt_no, "誤って公開したため", user)
    assert first.receipt_no not in await _get(client, "/")
    assert (await client.get(f"/voices/{first.receipt_no}")).status == 404
    assert page  # it was cached while published


async def test_intake_does_not_change_the_generation_but_a_section_rename_does(client):
    app = client.app
    user = await approver(app)
    await make_item(app, "公園の遊具が壊れている。", user=user, section="park", summary="公園の遊具を直してほしい。",
                    answer="修理しました。")
    await _get(client, "/")
    c = _cache(client)
    gen = await c._db_gen(app)
    await submit(client, "道路に穴があいています。")  # a new, unpublished submission
    assert await c._db_gen(app) == gen  # the board did not change: cached pages stay valid

    async def rename(conn):  # type: ignore[no-untyped-def]
        s = app[keys.SECTIONS]["park"]
        await sections_db.update(conn, "park", name="みどり公園課", unit=s.unit, deadline_days=s.deadline_days,
                                 active=True)

    await app[keys.DB].write(rename)
    assert await c._db_gen(app) == gen + 1
    from meyasubako.app import reload_sections
    await reload_sections(app)
    assert "みどり公園課" in await _get(client, "/")


async def test_a_change_from_another_process_is_seen_after_the_recheck(client, monkeypatch):
    app = client.app
    user = await approver(app)
    made = await make_item(app, "街灯が消えている。", user=user, section="road", summary="街灯を直してほしい。",
                           answer="交換しました。")
    assert made.receipt_no in await _get(client, "/")
    monkeypatch.setattr(page_cache, "RECHECK_S", 0.0)
    conn = sqlite3.connect(app[keys.SETTINGS].db_path)  # like a CLI command: not through this writer
    with conn:
        conn.execute("UPDATE submissions SET status = 'closed' WHERE receipt_no = ?", (made.receipt_no,))
    conn.close()
    # The first request after RECHECK_S may still get the cached page: it starts the recheck in
    # the background. The change shows once that read is back.
    await _get(client, "/")
    await _cache(client)._refresh
    assert made.receipt_no not in await _get(client, "/")


async def test_the_recheck_does_not_hold_up_cached_pages_when_every_reader_is_busy(client, monkeypatch):
    """Every reader busy (first views of item pages, an export): cached pages are still served at
    once, and the many requests that find the generation due for a recheck start one read, not one each."""
    app = client.app
    user = await approver(app)
    await make_item(app, "街灯が消えている。", user=user, section="road", summary="街灯を直してほしい。", answer="交換しました。")
    await _get(client, "/")
    monkeypatch.setattr(page_cache, "RECHECK_S", 0.0)
    if app[keys.SETTINGS].is_postgres:
        pytest.skip("holds every reader of SQLite's fixed pool; PostgreSQL's pool grows")
    db, release, held = app[keys.DB], asyncio.Event(), asyncio.Event()
    n_readers = db._n_readers

    async def hold(n: int) -> None:
        if n == 0:
            held.set()
            await release.wait()
            return
        async with db.read():
            await hold(n - 1)

    holder = asyncio.ensure_future(hold(n_readers))
    await asyncio.wait_for(held.wait(), 5)
    c = _cache(client)
    hits = c.hits
    pages = await asyncio.wait_for(asyncio.gather(*(_get(client, "/") for _ in range(20))), 5)
    assert all("街灯を直してほしい" in p for p in pages) and c.hits == hits + 20
    refresh = c._refresh
    assert refresh is not None and not refresh.done()  # one recheck, waiting for a reader
    release.set()
    await holder
    await refresh


async def test_pages_with_forms_or_long_or_hostile_queries_are_not_cached(client):
    c = _cache(client)
    before = len(c)
    resp = await client.get("/submit")  # has a CSRF token and sets a cookie: never cached (not wrapped)
    assert resp.status == 200
    long_q = "/?q=" + "あ" * 300  # percent-encoded it is > 512 bytes
    await _get(client, long_q)
    await _get(client, "/?q=%00%FF&page=-1&section=../../etc")
    assert (await client.get("/voices/2026-999999")).status == 404
    assert len(c) == before + 1  # only the hostile-but-short query; no 404, no long query


def test_the_cache_is_bounded_in_entries_and_bytes():
    c = page_cache.PublicCache(max_entries=3, max_bytes=1600)
    gen = (1,)
    for n in range(5):
        c.put((f"/{n}", ""), page_cache._Entry(gen, b"x" * 10, "text/html", "utf-8"))
    assert len(c) == 3 and c.get(("/0", ""), gen) is None and c.get(("/4", ""), gen) is not None
    c.put(("/big", ""), page_cache._Entry(gen, b"x" * 500, "text/html", "utf-8"))  # > max_bytes/16: skipped
    assert c.get(("/big", ""), gen) is None
    for n in range(3):
        c.put((f"/m{n}", ""), page_cache._Entry(gen, b"x" * 90, "text/html", "utf-8"))
    assert c._bytes <= 1600
    assert c.get(("/m2", ""), (2,)) is None  # another generation: a miss


async def test_concurrent_misses_render_once(client):
    import asyncio

    c = _cache(client)
    pages = await asyncio.gather(*(_get(client, "/?q=ごみ") for _ in range(10)))
    assert len(set(pages)) == 1
    assert c.misses == 1 and c.hits == 9
