"""Related published items on item pages and on the form, and the index surviving a restart."""

from __future__ import annotations

import asyncio
import re

from handlers.related import PUBLIC_INDEX_READY
from meyasubako import keys
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


async def test_item_page_lists_similar_published_items_only(client):
    a, b, c, hidden = await seed(client.app)
    html = await (await client.get(f"/voices/{a}")).text()
    rel = related_of(html)
    assert rel[:1] == [b]
    assert a not in rel and hidden not in rel and c not in rel
    html = await (await client.get(f"/voices/{c}")).text()
    assert related_of(html) == [] and "まだ掲載されていません" in html


async def test_public_index_is_rebuilt_after_restart(make_client, settings, monkeypatch):
    import handlers.related

    monkeypatch.setattr(handlers.related, "REBUILD_BATCH", 2)  # cross a batch boundary
    first = await make_client(settings)
    a, b, _, _ = await seed(first.app)
    assert related_of(await (await first.get(f"/voices/{a}")).text())[:1] == [b]
    await first.close()

    second = await make_client(settings)
    await asyncio.wait_for(second.app[PUBLIC_INDEX_READY].wait(), 10)
    assert len(second.app[keys.NLP].indexes["public"]) == 3  # the published ones, not the hidden one
    assert related_of(await (await second.get(f"/voices/{a}")).text())[:1] == [b]


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


async def _busy_nlp(app, seconds: float) -> asyncio.Future:  # type: ignore[no-untyped-def]
    """Occupy the NLP thread the way a long job (a retrain, a queue of lookups) does."""
    import time

    return asyncio.ensure_future(app[keys.NLP]._run(time.sleep, seconds))


async def test_item_pages_do_not_wait_for_related_items_when_first_views_pile_up(client):
    from handlers.cache import PUBLIC_CACHE

    a, b, c, _ = await seed(client.app)
    await asyncio.wait_for(client.app[PUBLIC_INDEX_READY].wait(), 10)
    busy = await _busy_nlp(client.app, 0.6)
    # Two first views while the NLP thread is busy: the first lookup may wait (it is alone), the
    # second is queued behind it and renders at once without the list, with links to search.
    first = asyncio.ensure_future(client.get(f"/voices/{a}"))
    await asyncio.sleep(0.05)
    t0 = asyncio.get_running_loop().time()
    resp = await client.get(f"/voices/{b}")
    took = asyncio.get_running_loop().time() - t0
    html = await resp.text()
    assert resp.status == 200 and took < 0.4
    assert "似た内容の投書を探しています" in html and related_of(html) == []
    assert 'href="/#q"' in html and 'href="/?section=park"' in html
    assert "板を交換しました。" in html  # the item itself is complete
    await first
    await busy
    # The lookup went on in the background; the fallback page was not kept in the page cache.
    cache = client.app[PUBLIC_CACHE]
    for _ in range(50):
        html = await (await client.get(f"/voices/{b}")).text()
        if "探しています" not in html:
            break
        await asyncio.sleep(0.05)
    assert related_of(html)[:1] == [a]
    hits = cache.hits
    assert related_of(await (await client.get(f"/voices/{b}")).text())[:1] == [a]
    assert cache.hits == hits + 1  # the complete page is cached


async def test_a_full_lookup_queue_renders_the_fallback_at_once(client, monkeypatch):
    import handlers.related

    a, b, c, _ = await seed(client.app)
    await asyncio.wait_for(client.app[PUBLIC_INDEX_READY].wait(), 10)
    monkeypatch.setattr(handlers.related, "MAX_PENDING", 1)
    busy = await _busy_nlp(client.app, 0.5)
    first = asyncio.ensure_future(client.get(f"/voices/{a}"))
    await asyncio.sleep(0.05)
    t0 = asyncio.get_running_loop().time()
    html = await (await client.get(f"/voices/{c}")).text()
    assert asyncio.get_running_loop().time() - t0 < 0.3
    assert "似た内容の投書を探しています" in html
    assert len(client.app[handlers.related.RELATED_PENDING]) == 1  # not queued: the queue was full
    await first
    await busy


async def test_a_lone_lookup_waits_for_a_busy_nlp_thread_within_its_budget(client, monkeypatch):
    import handlers.related

    a, b, _, _ = await seed(client.app)
    await asyncio.wait_for(client.app[PUBLIC_INDEX_READY].wait(), 10)
    monkeypatch.setattr(handlers.related, "SOLO_BUDGET_S", 1.0)  # the mechanism, with room for a slow CI
    busy = await _busy_nlp(client.app, 0.3)
    html = await (await client.get(f"/voices/{a}")).text()
    assert related_of(html)[:1] == [b]  # alone: it waited (< SOLO_BUDGET_S) and is complete
    await busy
