"""Business-day deadlines (Golden Week, 年末年始), the overdue queue, keyset pagination over many
rows, filters and hostile queries, bulk actions."""

from __future__ import annotations

from datetime import date

import pytest

from meyasubako import clock, keys
from meyasubako.domain import Channel, NewSubmission
from storage import queue as queue_db
from storage import submissions as subs
from tests.admin.helpers import as_user, events, flash_text, get, jst, new_item, post, setup_people

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL


@pytest.mark.parametrize(("start", "days", "due"), [
    (date(2026, 4, 28), 10, date(2026, 5, 18)),  # 昭和の日, 憲法記念日(Sun) → 振替休日 5/6, みどり, こども
    (date(2026, 4, 28), 3, date(2026, 5, 7)),
    (date(2026, 12, 25), 3, date(2027, 1, 5)),   # 12/29-1/3 closed
    (date(2026, 12, 28), 1, date(2027, 1, 4)),
    (date(2027, 1, 8), 1, date(2027, 1, 12)),    # 成人の日 2027-01-11
])
def test_business_days_skip_holidays_and_year_end(start, days, due):
    assert clock.add_business_days(start, days) == due
    assert clock.business_days_between(start, due) == days


async def test_due_date_per_section_and_overdue_queue(client):
    people = await setup_people(client.app)
    sub = await new_item(client.app, "家の前の道路に大きな穴があいています。", at=jst(2026, 4, 28))
    wf = client.app[keys.WORKFLOW]
    wf.now = lambda: jst(2026, 4, 28)
    await wf.route(sub.receipt_no, "road", people["koucho"])
    assert (await get(client.app, sub.receipt_no)).due_at == "2026-05-18"
    # An admin changes road's deadline to 3 business days: new routings follow it.
    await as_user(client, "root")
    resp = await post(client, "/admin/sections/road", {"name": "道路・河川", "unit": "道路維持課", "deadline_days": "3",
                                                       "active": "1"}, page="/admin/sections/road")
    assert resp.status == 303
    await wf.route(sub.receipt_no, "road", people["koucho"])
    assert (await get(client.app, sub.receipt_no)).due_at == "2026-05-07"
    wf.now = clock.jst_now
    fresh = await new_item(client.app, "歩道の段差が危ないです。", section="road", by=people["koucho"])
    await as_user(client, "douro")
    html = await (await client.get("/admin/?overdue=1")).text()
    assert sub.receipt_no in html and fresh.receipt_no not in html and "期限超過" in html
    assert "期限を過ぎています" in await (await client.get(f"/admin/items/{sub.receipt_no}")).text()
    dash = await (await client.get("/admin/dashboard")).text()
    assert 'id="kpi-overdue"><a href="/admin/?overdue=1">1件' in dash


async def _seed(app, n: int) -> None:  # type: ignore[no-untyped-def]
    """Many rows at once through storage (one transaction), without NLP, to exercise paging."""
    sections = ["road", "park", "waste", "welfare"]

    async def job(conn):  # type: ignore[no-untyped-def]
        for i in range(n):
            no = await subs.next_receipt_no(conn, 2026)
            day = 1 + i % 28
            now = f"2026-10-{day:02d}T10:00:00+09:00"
            sub = await subs.insert(conn, NewSubmission(channel=Channel.WEB if i % 3 else Channel.LINE,
                                                        text=f"投書{i}", consent=bool(i % 2)),
                                    receipt_no=no, token_hash=f"h{i}", now=now,
                                    analysis={"terms": ["投書", f"t{i % 7}"]})
            await subs.update_fields(conn, sub.id, {"status": "routed", "section": sections[i % 4],
                                                    "due_at": f"2026-11-{day:02d}"})

    await app[keys.DB].write(job)


async def test_keyset_pages_cover_every_row_once_in_each_sort(client):
    await _seed(client.app, 1200)
    f = queue_db.QueueFilter(sections=None, today="2026-11-30")
    for sort in ("new", "old", "due"):
        seen: list[int] = []
        after = None
        async with client.app[keys.DB].read() as conn:
            while True:
                page = await queue_db.list_queue(conn, f, sort=sort, after=after, limit=100)
                seen.extend(s.id for s in page.items)
                if not page.next_cursor:
                    break
                after = page.next_cursor
            assert page.total == 1200
            # Going back from the last page gives the page before it.
            back = await queue_db.list_queue(conn, f, sort=sort, before=page.prev_cursor, limit=100)
        assert len(seen) == 1200 == len(set(seen)), sort
        assert [s.id for s in back.items] == seen[-200:-100], sort
    async with client.app[keys.DB].read() as conn:
        # Filters combine; counts stay right; staff restriction wins over the requested section.
        page = await queue_db.list_queue(conn, queue_db.QueueFilter(sections=["road"], section="park", today="x"))
        assert page.total == 0
        page = await queue_db.list_queue(conn, queue_db.QueueFilter(
            sections=["road"], channel="line", consent=False, date_from="2026-10-05", date_to="2026-10-05",
            terms=["t4"], today="2026-11-30"))
        assert page.items and all(s.section == "road" and s.channel == "line" and not s.consent
                                  and s.received_at.startswith("2026-10-05") for s in page.items)
        page = await queue_db.list_queue(conn, queue_db.QueueFilter(sections=None, overdue=True, today="2026-11-10"))
        assert page.total and all(s.due_at < "2026-11-10" for s in page.items)
        if getattr(conn, "dialect", "sqlite") == "sqlite":  # PostgreSQL plans by statistics, not by shape
            plan = " ".join(str(tuple(r)) for r in await (await conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM submissions WHERE section = 'road' AND status = 'routed'"
                " ORDER BY id DESC LIMIT 50")).fetchall())
            assert "submissions_section_status_id" in plan


async def test_queue_pages_and_hostile_query_strings(client):
    await setup_people(client.app)
    await _seed(client.app, 120)
    await as_user(client, "koucho")
    html = await (await client.get("/admin/")).text()
    assert "120件" in html and 'rel="next"' in html
    import re
    nxt = re.search(r'href="(\?[^"]*after=[^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    html2 = await (await client.get("/admin/" + nxt)).text()
    assert 'rel="prev"' in html2 and "2026-000070" in html2
    for qs in ("?q=%22%20OR%20*", "?q=NEAR(a%20b)", "?q=" + "あ" * 500, "?status=evil", "?after=1'%3B--",
               "?sort=id;DROP", "?from=2026-13-45x", "?before=~~~", "?section=../../etc", "?channel=%00"):
        resp = await client.get("/admin/" + qs)
        assert resp.status == 200, qs


async def test_bulk_route_assign_close(client):
    people = await setup_people(client.app)
    items = [await new_item(client.app, f"道路の穴{i}があります。", section="road", by=people["koucho"]) for i in range(3)]
    welfare = await new_item(client.app, "介護の相談です。", section="welfare", by=people["koucho"])
    nos = [s.receipt_no for s in items]
    await as_user(client, "koucho")
    resp = await post(client, "/admin/bulk", {"op": "route", "section": "park", "item": nos + [nos[0]]})
    assert resp.status == 303
    assert all([(await get(client.app, n)).section == "park" for n in nos])
    assert all([[e.action for e in await events(client.app, n)].count("reroute") == 1 for n in nos])
    resp = await post(client, "/admin/bulk", {"op": "assign", "assignee": "koucho", "item": nos})
    assert all([(await get(client.app, n)).assignee == "koucho" for n in nos])
    # Staff: a bulk close over their own item and another section's closes only their own.
    await post(client, "/admin/bulk", {"op": "route", "section": "road", "item": nos})
    await as_user(client, "douro")
    resp = await post(client, "/admin/bulk", {"op": "close", "reason": "mischief", "item": [nos[0], welfare.receipt_no]})
    html = await (await client.get("/admin/")).text()
    assert "1件を処理しました" in flash_text(html) and "1件は処理できませんでした" in html
    assert (await get(client.app, nos[0])).status == "closed"
    assert (await get(client.app, welfare.receipt_no)).status == "routed"
    # Malformed bulk requests.
    assert (await post(client, "/admin/bulk", {"op": "explode", "item": nos})).status == 400
    assert (await post(client, "/admin/bulk", {"op": "close", "reason": "x", "item": nos[1]})).status == 303
    assert (await get(client.app, nos[1])).status == "routed"  # invalid reason refused per item
    too_many = [f"2026-{i:06d}" for i in range(1, 202)]
    assert (await post(client, "/admin/bulk", {"op": "close", "reason": "mischief", "item": too_many})).status == 400
    assert (await post(client, "/admin/bulk", {"op": "publish", "item": nos[1]})).status == 403
    assert (await get(client.app, nos[1])).status == "routed"
