"""The notice board: Japanese search with notation variants, filters, paging, hostile parameters."""

from __future__ import annotations

import re

import pytest

from tests.public.conftest import approver, make_item

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

GOMI = "家の前のゴミ集積所にカラスが来て、ゴミが散らかっています。ネットを貸してください。"


def receipts(html: str) -> list[str]:
    return re.findall(r'href="/voices/(\d{4}-\d{6})"', html)


async def board(client, **params) -> str:  # type: ignore[no-untyped-def]
    resp = await client.get("/", params=params)
    assert resp.status == 200
    return await resp.text()


@pytest.fixture
async def items(client):  # type: ignore[no-untyped-def]
    app = client.app
    user = await approver(app)
    gomi = await make_item(app, GOMI, user=user, section="waste", summary="ゴミ集積所のカラス対策をしてほしい。",
                           answer="カラスよけネットを貸し出します。清掃事務所へご連絡ください。",
                           received="2026-06-03T10:00:00+09:00", answered="2026-06-05T10:00:00+09:00")
    park = await make_item(app, "公園のベンチが壊れています。", user=user, section="park",
                           summary="公園のベンチを直してほしい。", answer="来月修理します。",
                           received="2026-07-10T10:00:00+09:00", answered="2026-08-20T10:00:00+09:00")
    hidden = await make_item(app, "道路のごみの不法投棄がひどい。", user=user, section="road",
                             answer="パトロールします。", publish=False)
    return {"gomi": gomi.receipt_no, "park": park.receipt_no, "hidden": hidden.receipt_no}


async def test_board_lists_published_items_with_public_fields(client, items):
    html = await board(client)
    assert set(receipts(html)) == {items["gomi"], items["park"]}
    assert "ゴミ集積所のカラス対策をしてほしい。" in html and "カラスよけネット" in html
    assert "2026年6月3日" in html and "2026年6月5日" in html  # received and answered dates
    assert "ごみ・リサイクル" in html or "ごみ" in html
    assert "2件" in html
    # Original text of a published item is not on the board, only its 要旨.
    assert "ネットを貸してください" not in html


async def test_search_matches_notation_variants(client, items):
    for q in ["ゴミ", "ごみ", "ｺﾞﾐ", "カラス", "からす", "ゴミ集積所", "  ごみ　カラス "]:
        html = await board(client, q=q)
        assert receipts(html) == [items["gomi"]], q


async def test_search_uses_published_text_only(client, items):
    # "不法投棄" is only in the unpublished item; "散らかって" only in the published item's original.
    for q in ("不法投棄", "散らかって"):
        html = await board(client, q=q)
        assert receipts(html) == [], q
        assert "該当する投書はありませんでした" in html


async def test_filters_section_month_status(client, items):
    assert receipts(await board(client, section="park")) == [items["park"]]
    assert receipts(await board(client, section="nope")) != []  # unknown section: ignored, not an error
    assert receipts(await board(client, month="2026-06")) == [items["gomi"]]
    assert receipts(await board(client, month="2026-07")) == [items["park"]]
    assert receipts(await board(client, month="2026-05")) == []
    # The park answer (8/20) came after its deadline, the ごみ answer (6/5) within it.
    assert receipts(await board(client, status="ontime")) == [items["gomi"]]
    assert receipts(await board(client, status="late")) == [items["park"]]
    assert receipts(await board(client, q="ベンチ", section="park", month="2026-07", status="late")) == [items["park"]]
    assert receipts(await board(client, q="ベンチ", section="waste")) == []
    html = await board(client)
    assert '<option value="2026-06">2026年6月</option>' in html


HOSTILE = [
    {"q": "x" * 5000}, {"q": '"ごみ" OR *'}, {"q": "NEAR(ごみ カラス)"}, {"q": "ごみ\x00\x1b[31m"},
    {"q": "<script>alert(1)</script>"}, {"q": "の"}, {"q": "   "}, {"page": "-1"}, {"page": "abc"},
    {"page": "99999999999999999999"}, {"month": "2026-13"}, {"month": "../../etc"}, {"status": "open'--"},
    {"section": "' OR 1=1 --"}, {"q": "ごみ", "q2": "x", "page": "1", "month": ""},
]


async def test_hostile_parameters_are_harmless(client, items):
    for params in HOSTILE:
        resp = await client.get("/", params=params)
        assert resp.status == 200, params
        html = await resp.text()
        assert "<script>alert(1)</script>" not in html
        assert items["hidden"] not in html


async def test_paging(client):
    app = client.app
    user = await approver(app)
    made = []
    for i in range(23):
        made.append((await make_item(app, f"図書館の本{i}について", user=user, section="education",
                                     summary=f"図書館の本の購入希望 その{i}", answer="検討します。")).receipt_no)
    newest_first = list(reversed(made))
    p1 = await board(client)
    assert receipts(p1) == newest_first[:20]
    assert "1／2ページ目" in p1 and 'rel="next"' in p1 and 'aria-current="page"' in p1
    p2 = await board(client, page="2")
    assert receipts(p2) == newest_first[20:]
    assert 'rel="prev"' in p2 and 'rel="next"' not in p2
    # Pages keep the filters in their links.
    f1 = await board(client, q="図書館", section="education")
    assert "/?q=%E5%9B%B3%E6%9B%B8%E9%A4%A8&amp;section=education&amp;page=2" in f1
    # A page past the end is empty, not an error.
    assert receipts(await board(client, page="50")) == []


async def test_counts_stop_at_the_cap(client, monkeypatch):
    import storage.public

    monkeypatch.setattr(storage.public, "COUNT_CAP", 3)  # the real cap is 10,000; the logic is the same
    user = await approver(client.app)
    for i in range(5):
        await make_item(client.app, f"要望{i}", user=user, section="other", summary=f"要望{i}", answer="承知しました。")
    html = await board(client, page="9")
    assert "3件以上" in html and len(receipts(html)) == 5  # page 9 is past the pages offered: page 1


async def test_item_page_and_unpublished_404(client, items):
    resp = await client.get(f"/voices/{items['gomi']}")
    html = await resp.text()
    assert resp.status == 200
    assert "ゴミ集積所のカラス対策をしてほしい。" in html and "清掃事務所へご連絡ください" in html
    assert "2026年6月3日" in html and "2026年6月5日" in html
    assert (await client.get(f"/voices/{items['hidden']}")).status == 404
    assert (await client.get("/voices/2026-999999")).status == 404
