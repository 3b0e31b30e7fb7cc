"""Transparency figures (counts per month and section, median days) and the query plans at scale."""

from __future__ import annotations

import csv
import io
import re

import pytest

from meyasubako import keys
from storage import public as pub
from storage import public_stats as ps
from tests.public.conftest import approver, make_item


async def seed(app):  # type: ignore[no-untyped-def]
    user = await approver(app)
    jun = "2026-06-{:02d}T10:00:00+09:00".format
    # June, road: answered after 2, 4 and 9 days (median 4); one closed as duplicate; one still open.
    for d, days in ((1, 2), (2, 4), (3, 9)):
        await make_item(app, f"道路の穴{d}", user=user, section="road", summary=f"道路の穴{d}", answer="補修します。",
                        received=jun(d), answered=jun(d + days))
    await make_item(app, "道路の穴（重複）", user=user, section="road", answer="重複です。", close="duplicate",
                    received=jun(5), answered=jun(6))
    await make_item(app, "道路の穴まだ", user=user, section="road", publish=False, received=jun(7))
    # June, park: closed as private without an answer; one answered (3 days) but not published (no consent).
    await make_item(app, "公園の件", user=user, section="park", close="private", received=jun(8))
    await make_item(app, "公園の件2", user=user, section="park", answer="対応します。", consent=False,
                    publish=False, received=jun(9), answered=jun(12))
    # March belongs to the previous fiscal year (年度: April to March).
    await make_item(app, "三月の件", user=user, section="road", summary="三月の件", answer="回答",
                    received="2026-03-10T10:00:00+09:00", answered="2026-03-11T10:00:00+09:00")


async def test_monthly_counts_and_medians(client):
    await seed(client.app)
    async with client.app[keys.DB].read() as conn:
        rows = await ps.monthly(conn, "2026-04", "2027-04")
    road, park = rows[("2026-06", "road")], rows[("2026-06", "park")]
    assert (road.received, road.answered, road.published, road.closed_total, road.in_progress) == (5, 4, 3, 1, 1)
    assert road.closed["duplicate"] == 1 and road.median_days == 3  # days 1 (the duplicate), 2, 4, 9
    assert (park.received, park.answered, park.published, park.in_progress) == (2, 1, 0, 1)
    assert park.closed["private"] == 1 and park.median_days == 3
    june = ps.merged(r for (m, _), r in rows.items() if m == "2026-06")
    assert june.received == 7 and june.median_days == 3  # days 1, 2, 3, 4, 9
    assert ("2026-03", "road") not in rows


def test_median_from_histogram():
    r = ps.StatsRow("2026-06", "road")
    assert r.median_days is None
    r.days.update({5: 1})
    assert r.median_days == 5
    r.days.update({1: 1})
    assert r.median_days == 3
    r.days.update({1: 2, 100: 1})
    assert r.median_days == 1  # 1, 1, 1, 5, 100


async def test_stats_page_and_csv(client):
    await seed(client.app)
    html = await (await client.get("/stats", params={"fy": "2026"})).text()
    assert "2026年度" in html and "受付月別" in html and "担当別" in html
    row = re.search(r'<th scope="row">2026年6月</th>(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[:4] == ["7", "5", "3", "2"] and cells[-1] == "3日"
    month_page = await (await client.get("/stats", params={"fy": "2026", "month": "2026-06"})).text()
    assert "2026年6月受付分" in month_page
    prev = await (await client.get("/stats", params={"fy": "2025"})).text()
    assert re.search(r'<th scope="row">2026年3月</th>\s*<td>1</td>', prev)
    for bad in ({"fy": "1999"}, {"fy": "abc"}, {"fy": "99999"}, {"month": "2026-13"}, {"month": "<x>"}):
        resp = await client.get("/stats", params=bad)
        assert resp.status == 200 and "<x>" not in await resp.text()

    raw = await (await client.get("/opendata/stats.csv", params={"fy": "2026"})).read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = {(r["month"], r["section_id"]): r for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}
    assert rows[("2026-06", "road")]["received"] == "5" and rows[("2026-06", "road")]["closed_duplicate"] == "1"
    assert rows[("2026-06", "road")]["median_days_to_answer"] == "3.0"


PLANS = [
    pub.PublicFilter(),
    pub.PublicFilter(section="road"),
    pub.PublicFilter(received_month="2026-06"),
    pub.PublicFilter(terms=["ごみ"]),
    pub.PublicFilter(timeliness="late"),
    pub.PublicFilter(section="road", received_month="2026-06", terms=["ごみ"]),
]


@pytest.mark.parametrize("f", PLANS, ids=lambda f: ",".join(k for k, v in f.__dict__.items() if v))
async def test_board_queries_use_the_public_indexes(client, f):
    """Every board query is driven by a partial index over published items: no full scan of the
    submissions table and no sort of all published rows (what made page 1 take 0.8 s at 100k)."""
    clause, params = pub._where(f)
    sql = (f"SELECT s.id FROM {pub._source(f)} WHERE {clause}"
           " ORDER BY s.published_at DESC, s.id DESC LIMIT 20")
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("EXPLAIN QUERY PLAN " + sql, params) as cur:
            plan = " | ".join(r[3] for r in await cur.fetchall())
    assert re.search(r"(SEARCH|SCAN) s USING (COVERING )?INDEX public_by_", plan), plan
    assert "submissions_status_received" not in plan and not re.search(r"SCAN s( \||$)", plan), plan
    if not f.received_month:
        assert "TEMP B-TREE" not in plan, plan


async def test_lookup_by_receipt_numbers_uses_the_unique_index(client):
    f = pub.PublicFilter(receipt_nos=["2026-000001", "2026-000002"])
    clause, params = pub._where(f)
    async with client.app[keys.DB].read() as conn:
        async with conn.execute(f"EXPLAIN QUERY PLAN SELECT s.id FROM {pub._source(f)} WHERE {clause}", params) as cur:
            plan = " | ".join(r[3] for r in await cur.fetchall())
    assert "(receipt_no=?)" in plan, plan


async def test_stats_query_reads_the_covering_index(client):
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("EXPLAIN QUERY PLAN " + ps._query(conn), ("2026-04", "2027-04")) as cur:
            plan = " | ".join(r[3] for r in await cur.fetchall())
    assert "COVERING INDEX submissions_stats" in plan, plan
