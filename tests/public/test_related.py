"""Related published items on item pages (stored lists) and on the form (live search)."""

from __future__ import annotations

import asyncio
import re

from handlers.cache import PUBLIC_CACHE
from meyasubako import keys
from meyasubako.related import PUBLIC_INDEX_READY, RELATED
from storage import public as pub
from storage import submissions as subs
from tests.conftest import csrf_of, receipt_of
from tests.public.conftest import approver, make_item

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

BENCH = "公園のベンチが壊れて座れません。修理してください。"


async def seed(app):  # type: ignore[no-untyped-def]
    user = await approver(app)
    a = await make_item(app, BENCH, user=user, section="park", summary="公園のベンチが壊れているので修理してほしい。",
                        answer="ベンチの修理を来月行います。")
    b = await make_item(app, "中央公園のベンチの板が割れています。", user=user, section="park",
                        summary="中央公園のベンチの板が割れている。", answer="板を交換しました。")
    c = await make_item(app, "住民票の写しをコンビニで取りたい。", user=user, section="residents",
                        summary="住民票をコンビニで取得したい。", answer="マイナンバーカードで取得できます。")
    hidden = await make_item(app, "公園のベンチを増やしてほしい。", user=user, section="park",
                             answer="検討します。", publish=False)
    return a.receipt_no, b.receipt_no, c.receipt_no, hidden.receipt_no


def related_of(html: str) -> list[str]:
    part = html.split('id="related-h"', 1)[1]
    return re.findall(r'href="/voices/(\d{4}-\d{6})"', part)


async def settled(app) -> None:  # type: ignore[no-untyped-def]
    """The index is rebuilt and every list asked for is computed."""
    await asyncio.wait_for(app[PUBLIC_INDEX_READY].wait(), 10)
    await asyncio.wait_for(app[RELATED].idle(), 10)


async def page(client, receipt_no: str) -> str:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/voices/{receipt_no}")
    assert resp.status == 200
    return await resp.text()


async def ids(app, *receipts: str) -> list[int]:  # type: ignore[no-untyped-def]
    async with app[keys.DB].read() as conn:
        found = await pub.by_receipts(conn, list(receipts))
    assert len(found) == len(receipts)
    return [i.id for i in found]


async def test_item_page_lists_similar_published_items_only(client):
    await settled(client.app)
    a, b, c, hidden = await seed(client.app)
    await settled(client.app)
    assert related_of(await page(client, b))[:1] == [a]
    rel = related_of(await page(client, a))
    assert rel[:1] == [b]
    assert a not in rel and hidden not in rel and c not in rel
    html = await page(client, c)
    assert related_of(html) == [] and "まだ掲載されていません" in html


async def test_lists_are_stored_and_survive_a_restart(make_client, settings, monkeypatch):
    import meyasubako.related

    monkeypatch.setattr(meyasubako.related, "REBUILD_BATCH", 2)  # cross a batch boundary
    first = await make_client(settings)
    await settled(first.app)
    a, b, _, _ = await seed(first.app)
    await settled(first.app)
    assert related_of(await page(first, a))[:1] == [b]
    await first.close()

    second = await make_client(settings)
    await settled(second.app)
    assert len(second.app[keys.NLP].indexes["public"]) == 3  # the published ones, not the hidden one
    assert second.app[RELATED].filled == 0  # nothing to fill: the lists are in the database
    assert related_of(await page(second, a))[:1] == [b]


async def test_items_published_without_lists_are_filled_in_at_start(make_client, settings, monkeypatch):
    """Items published before this existed, or by a process that keeps no lists, get theirs."""
    import meyasubako.related

    monkeypatch.setattr(meyasubako.related, "BATCH", 2)  # page through the fill
    first = await make_client(settings)
    await settled(first.app)
    first.app[keys.WORKFLOW].related = None  # as a CLI process publishes: no lists kept
    a, b, c, _ = await seed(first.app)
    async with first.app[keys.DB].read() as conn:
        assert [await pub.related_of(conn, i) for i in await ids(first.app, a, b, c)] == [None, None, None]
    await first.close()

    second = await make_client(settings)
    await settled(second.app)
    related = second.app[RELATED]
    assert related.fill_done and related.filled == 3
    assert related_of(await page(second, a))[:1] == [b]
    assert related_of(await page(second, b))[:1] == [a]
    assert "まだ掲載されていません" in await page(second, c)


async def test_a_page_without_its_list_says_so_asks_for_it_and_is_not_cached(client):
    await settled(client.app)
    wf = client.app[keys.WORKFLOW]
    kept, wf.related = wf.related, None  # published by a process that keeps no lists
    a, b, c, _ = await seed(client.app)
    wf.related = kept
    cache = client.app[PUBLIC_CACHE]
    html = await page(client, b)
    assert "似た内容の投書を探しています" in html and related_of(html) == []
    assert 'href="/#q"' in html and 'href="/?section=park"' in html
    assert "板を交換しました。" in html  # the item itself is complete
    await settled(client.app)  # the view asked for b's list
    hits = cache.hits
    assert related_of(await page(client, b))[:1] == [a]
    assert cache.hits == hits  # the fallback page had not been kept
    assert related_of(await page(client, b))[:1] == [a]
    assert cache.hits == hits + 1  # the complete page is


OTHERS = [  # unrelated items: BM25 weighs words by their rarity on the whole board
    ("residents", "住民票の写しをコンビニで取りたい。", "マイナンバーカードで取得できます。"),
    ("waste", "ごみの収集日を知りたい。", "ごみカレンダーをご覧ください。"),
    ("childcare", "保育園の申込書類が分かりにくい。", "記入例を掲載しました。"),
    ("education", "図書館の開館時間を延ばしてほしい。", "来年度から延長します。"),
]


async def test_a_new_neighbour_enters_a_cached_page(client):
    await settled(client.app)
    user = await approver(client.app)
    for section, text, answer in OTHERS:
        await make_item(client.app, text, user=user, section=section, summary=text, answer=answer)
    a = (await make_item(client.app, BENCH, user=user, section="park", summary="公園のベンチが壊れているので修理してほしい。",
                         answer="ベンチの修理を来月行います。")).receipt_no
    await settled(client.app)
    assert "まだ掲載されていません" in await page(client, a)
    assert "まだ掲載されていません" in await page(client, a)  # now served from the cache
    b = (await make_item(client.app, "中央公園のベンチの板が割れています。", user=user, section="park",
                         summary="中央公園のベンチの板が割れている。", answer="板を交換しました。")).receipt_no
    await settled(client.app)  # no sweep is due (5 → 6 items): a's list was refreshed as b's neighbour
    assert related_of(await page(client, a)) == [b]


async def test_an_unpublished_item_leaves_the_lists_that_named_it(client):
    await settled(client.app)
    a, b, c, _ = await seed(client.app)
    await settled(client.app)
    assert related_of(await page(client, a))[:1] == [b]
    [a_id, b_id] = await ids(client.app, a, b)
    user = await approver(client.app)
    await client.app[keys.WORKFLOW].unpublish(b, "要旨に誤りがあったため", user)
    # At once: the page re-reads its items as published (the cached one is stale by generation).
    assert b not in related_of(await page(client, a))
    await settled(client.app)
    async with client.app[keys.DB].read() as conn:
        assert b_id not in await pub.related_ids(conn, a_id)  # and the list was computed again


async def test_lists_skip_items_taken_down_meanwhile_and_unknown_receipts(client):
    await settled(client.app)
    a, b, c, hidden = await seed(client.app)
    await settled(client.app)
    [a_id, b_id, c_id] = await ids(client.app, a, b, c)
    async with client.app[keys.DB].read() as conn:
        hidden_id = (await subs.by_receipt(conn, hidden)).id
        before = await pub.public_generation(conn)

    async def store(conn):  # type: ignore[no-untyped-def]
        return await pub.store_related(conn, {a_id: [(c, 0.5), ("2099-999999", 0.4), (b, 0.3)],
                                              hidden_id: [(a, 0.9)]}, now="2026-11-30T12:00:00+09:00", index_size=3)

    assert await client.app[keys.DB].write(store) == 1  # the unpublished item gets no list
    async with client.app[keys.DB].read() as conn:
        assert await pub.related_ids(conn, a_id) == [c_id, b_id]  # in order, the unknown receipt dropped
        assert [(i.receipt_no, s) for i, s in await pub.related_of(conn, a_id)] == [(c, 0.5), (b, 0.3)]
        assert await pub.related_of(conn, hidden_id) is None
        assert await pub.public_generation(conn) > before  # a list computed again: cached pages go
        assert await pub.listed_by(conn, c_id) == [a_id]


def test_the_wanted_queue_is_bounded(monkeypatch):
    """A crawler opening every page of a board without lists cannot grow memory without bound."""
    import meyasubako.related
    from meyasubako.related import RelatedLists

    monkeypatch.setattr(meyasubako.related, "MAX_WANTED", 3)
    rl = RelatedLists(None, None)  # type: ignore[arg-type]
    rl.want(range(10))
    rl.want([1, 2])
    assert list(rl._wanted) == [0, 1, 2]


async def test_form_shows_similar_answers_before_sending(client):
    a, b, _, hidden = await seed(client.app)
    page = await (await client.get("/submit")).text()
    form_id = re.search(r'name="form_id" value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf_of(page), "form_id": form_id, "text": "公園のベンチが壊れています\n早く直して",
            "place": "中央公園", "contact": "090-1234-5678", "consent": "yes", "step": "check"}
    resp = await client.post("/submit", data=data)
    html = await resp.text()
    assert resp.status == 200 and "似た内容の投書への回答があります" in html
    shown = re.findall(r'href="/voices/(\d{4}-\d{6})"', html)
    assert a in shown and b in shown and hidden not in shown
    assert "ベンチの修理を来月行います。" in html
    # Nothing was stored yet; the input is carried to the next step intact.
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM submissions") as cur:
            before = (await cur.fetchone())[0]
    carried = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert carried["form_id"] == form_id and carried["text"] == data["text"] and carried["consent"] == "yes"

    # Back to the form: everything kept, no error.
    back = await client.post("/submit", data={**carried, "step": "edit"})
    back_html = await back.text()
    assert back.status == 200 and "中央公園" in back_html and "入力内容を確認してください" not in back_html

    # Send from the check page.
    done = await client.post("/submit", data=carried)
    assert done.status == 200
    receipt = receipt_of(await done.text())
    # Sending the same check page again (double click) is the same submission.
    again = await client.post("/submit", data=carried)
    assert receipt_of(await again.text()) == receipt
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("SELECT COUNT(*), MAX(text) FROM submissions WHERE receipt_no = ?", (receipt,)) as cur:
            n, text = await cur.fetchone()
        async with conn.execute("SELECT COUNT(*) FROM submissions") as cur:
            after = (await cur.fetchone())[0]
    assert n == 1 and text == data["text"] and after == before + 1


async def test_form_without_similar_answers_sends_at_once(client):
    page = await (await client.get("/submit")).text()
    data = {"csrf_token": csrf_of(page), "form_id": "f1", "text": "税務署の場所を教えてください。", "consent": "no",
            "step": "check"}
    resp = await client.post("/submit", data=data)
    assert resp.status == 200
    assert re.fullmatch(r"\d{4}-\d{6}", receipt_of(await resp.text()))


async def test_form_skips_the_check_page_when_the_list_was_shown_live(client):
    await seed(client.app)
    page = await (await client.get("/submit")).text()
    resp = await client.post("/submit", data={"csrf_token": csrf_of(page), "form_id": "f3", "text": BENCH,
                                              "consent": "yes", "step": "check", "similar_seen": "1"})
    assert resp.status == 200 and re.fullmatch(r"\d{4}-\d{6}", receipt_of(await resp.text()))


async def test_check_step_validates_and_needs_csrf(client):
    await seed(client.app)
    page = await (await client.get("/submit")).text()
    resp = await client.post("/submit", data={"csrf_token": csrf_of(page), "form_id": "f2", "text": "",
                                              "consent": "yes", "step": "check"})
    assert resp.status == 400 and "内容を入力してください" in await resp.text()
    resp = await client.post("/submit", data={"csrf_token": "forged", "form_id": "f2", "text": BENCH,
                                              "consent": "yes", "step": "check"})
    assert resp.status == 403
    resp = await client.post("/submit", data={"csrf_token": csrf_of(page), "form_id": "f2", "text": "あ" * 4001,
                                              "consent": "yes", "step": "check"})
    assert resp.status == 400


async def similar_json(client, text: str, token: str | None = None):  # type: ignore[no-untyped-def]
    if token is None:
        token = csrf_of(await (await client.get("/submit")).text())
    return await client.post("/submit/similar.json", data={"csrf_token": token, "text": text})


async def test_similar_json_for_the_typing_resident(client):
    a, b, _, hidden = await seed(client.app)
    resp = await similar_json(client, "公園のベンチが壊れています")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    items = (await resp.json())["items"]
    assert {i["receipt_no"] for i in items} >= {a, b} and hidden not in {i["receipt_no"] for i in items}
    assert set(items[0]) == {"receipt_no", "url", "summary", "section_name", "published_date", "answer"}
    assert (await (await similar_json(client, "")).json()) == {"items": []}
    assert (await (await similar_json(client, "\x00\x01")).json()) == {"items": []}
    resp = await similar_json(client, "あ" * 4001)
    assert resp.status == 400 and (await resp.json())[0]["code"] == 400
    resp = await similar_json(client, "公園のベンチ", token="forged")
    assert resp.status == 403 and (await resp.json())[0]["code"] == 403
    assert (await client.get("/submit/similar.json")).status == 405


async def test_similar_json_is_rate_limited(make_client, settings):
    import dataclasses

    from handlers.similar import LOOKUPS_PER_MINUTE

    client = await make_client(dataclasses.replace(settings, rate_limit=5))
    token = csrf_of(await (await client.get("/submit")).text())
    statuses = [(await similar_json(client, "公園", token)).status for _ in range(LOOKUPS_PER_MINUTE + 1)]
    assert statuses[:-1] == [200] * LOOKUPS_PER_MINUTE and statuses[-1] == 429


async def test_a_publication_stands_when_its_list_cannot_be_stored(client, caplog):
    """The publication is committed before the list is computed: a failure there (here the list
    table is gone) is logged and left to the worker, never reported to the approver as a failed
    publication."""
    await settled(client.app)

    async def break_lists(conn):  # type: ignore[no-untyped-def]
        await conn.execute("DROP TABLE public_related")

    await client.app[keys.DB].write(break_lists)
    user = await approver(client.app)
    made = await make_item(client.app, BENCH, user=user, section="park", summary="公園のベンチを直してほしい。",
                           answer="修理します。")
    async with client.app[keys.DB].read() as conn:
        assert [i.receipt_no for i in await pub.by_receipts(conn, [made.receipt_no])] == [made.receipt_no]
    assert "event=related_compute_failed" in caplog.text
