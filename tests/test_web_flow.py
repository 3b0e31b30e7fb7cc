"""The whole path on the web: form -> admin answer -> publish -> notice board, and its guards."""

from __future__ import annotations

import asyncio
import re

from meyasubako import keys
from tests.conftest import add_user, admin_post, csrf_of, login, receipt_of, status_link_of, submit

BOTH_BACKENDS = True

POTHOLE = "家の前の市道に大きな穴があいていて、自転車で通ると危ないです。早めに補修してください。"


async def test_full_path_form_to_notice_board(client):
    status, html = await submit(client, POTHOLE, consent="yes", place="桜町3丁目")
    assert status == 200
    receipt = receipt_of(html)
    assert re.fullmatch(r"\d{4}-\d{6}", receipt)
    link = status_link_of(html)

    # The resident's private status page shows the submission and no answer yet.
    page = await (await client.get(link)).text()
    assert receipt in page and "回答はまだありません" in page

    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    resp = await admin_post(client, receipt, "route", {"section": "road"})
    assert resp.status == 200
    resp = await admin_post(client, receipt, "answer", {"body": "現地を確認し、11月中に補修します。"})
    assert resp.status == 200
    resp = await admin_post(client, receipt, "publish", {"summary": "市道の穴を補修してほしい。"})
    assert resp.status == 200
    assert "回答を公開しました" in await resp.text()

    board = await (await client.get("/")).text()
    assert receipt in board and "市道の穴を補修してほしい。" in board and "11月中に補修します" in board
    item = await client.get(f"/voices/{receipt}")
    assert item.status == 200
    assert "道路・河川" in await item.text()
    # The resident now sees the answer on the private page.
    assert "11月中に補修します" in await (await client.get(link)).text()


async def test_non_consenting_item_is_never_public(client):
    status, html = await submit(client, "公園のトイレが汚れています。清掃をお願いします。", consent="no")
    receipt = receipt_of(html)
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    await admin_post(client, receipt, "route", {"section": "park"})
    await admin_post(client, receipt, "answer", {"body": "清掃を行いました。"})
    resp = await admin_post(client, receipt, "publish", {"summary": "公園のトイレの清掃"})
    assert resp.status == 400
    assert "同意していない" in await resp.text()
    assert receipt not in await (await client.get("/")).text()
    assert (await client.get(f"/voices/{receipt}")).status == 404


async def test_unpublished_item_is_404_on_the_board(client):
    _, html = await submit(client, POTHOLE)
    receipt = receipt_of(html)
    resp = await client.get(f"/voices/{receipt}")
    assert resp.status == 404
    assert "見つかりませんでした" in await resp.text()
    assert (await client.get("/voices/2026-999999")).status == 404
    assert (await client.get("/voices/not-a-number")).status == 404


async def test_csrf_missing_or_wrong_is_rejected_and_nothing_stored(client):
    await client.get("/submit")
    resp = await client.post("/submit", data={"text": POTHOLE, "consent": "yes", "form_id": "x"})
    assert resp.status == 403
    resp = await client.post("/submit", data={"text": POTHOLE, "consent": "yes", "csrf_token": "forged"})
    assert resp.status == 403
    assert "不正な送信" in await resp.text()
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM submissions") as cur:
            assert (await cur.fetchone())[0] == 0


async def test_admin_forms_need_csrf(client):
    _, html = await submit(client, POTHOLE)
    receipt = receipt_of(html)
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    resp = await client.post(f"/admin/items/{receipt}/route", data={"section": "park", "csrf_token": "nope"})
    assert resp.status == 403
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("SELECT section FROM submissions WHERE receipt_no = ?", (receipt,)) as cur:
            assert (await cur.fetchone())[0] != "park"


async def test_hostile_text_is_escaped_everywhere(client):
    hostile = '<script>alert(1)</script> "><img src=x onerror=alert(2)> 公園の照明が暗い'
    _, html = await submit(client, hostile, place='"><svg onload=alert(3)>')
    receipt = receipt_of(html)
    link = status_link_of(html)
    page = await (await client.get(link)).text()
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    admin_page = await (await client.get(f"/admin/items/{receipt}")).text()
    assert "<script>alert(1)" not in admin_page and "<svg onload" not in admin_page
    await admin_post(client, receipt, "answer", {"body": "<b>回答</b>"})
    await admin_post(client, receipt, "publish", {"summary": hostile, "pii_confirmed": "1"})
    board = await (await client.get("/")).text()
    assert "<script>alert(1)" not in board and "<img src=x" not in board and "<b>回答</b>" not in board
    assert "&lt;b&gt;回答&lt;/b&gt;" in board


async def test_empty_and_oversized_text_rerender_with_message_and_keep_input(client):
    status, html = await submit(client, "   ")
    assert status == 400 and "内容を入力してください" in html
    long_text = "あ" * 4001
    status, html = await submit(client, long_text, place="駅前")
    assert status == 400 and "4000文字以内" in html
    assert long_text in html and 'value="駅前"' in html  # what was typed is kept
    status, html = await submit(client, "あ" * 4000)
    assert status == 200 and receipt_of(html)


async def test_missing_consent_keeps_the_text(client):
    page = await client.get("/submit")
    token = csrf_of(await page.text())
    resp = await client.post("/submit", data={"csrf_token": token, "text": POTHOLE})
    assert resp.status == 400
    html = await resp.text()
    assert "公開してよいかどうかを選んでください" in html and POTHOLE in html


async def test_oversized_body_is_413(client):
    resp = await client.post("/submit", data={"text": "x" * (2 * 1024 * 1024)})
    assert resp.status == 413


async def test_double_submit_of_one_form_gives_one_receipt(client):
    page = await client.get("/submit")
    html = await page.text()
    token = csrf_of(html)
    form_id = re.search(r'name="form_id" value="([^"]+)"', html).group(1)
    data = {"csrf_token": token, "form_id": form_id, "text": POTHOLE, "consent": "yes"}
    first = await client.post("/submit", data=data)
    second = await client.post("/submit", data=data)
    assert receipt_of(await first.text()) == receipt_of(await second.text())
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM submissions") as cur:
            assert (await cur.fetchone())[0] == 1


async def test_concurrent_submissions_all_stored_with_distinct_receipts(client):
    wf = client.app[keys.WORKFLOW]
    from meyasubako.domain import Channel, NewSubmission

    receipts = await asyncio.gather(*[
        wf.receive(NewSubmission(channel=Channel.WEB, text=f"バス停にベンチを置いてください。{i}番目", consent=True))
        for i in range(200)
    ])
    numbers = [r.submission.receipt_no for r in receipts]
    assert len(set(numbers)) == 200
    db = client.app[keys.DB]
    async with db.read() as conn:
        async with conn.execute("SELECT COUNT(*), COUNT(DISTINCT receipt_no) FROM submissions") as cur:
            assert tuple(await cur.fetchone()) == (200, 200)
    if db.dialect == "sqlite":
        assert db.commits < 200  # one writer, grouped: a burst costs fewer transactions than items
    else:
        assert db.commits >= 200  # PostgreSQL: concurrent transactions, one per job (retries included)


async def test_rate_limit_gives_friendly_japanese_429(make_client, settings):
    from dataclasses import replace

    client = await make_client(replace(settings, rate_limit=2))
    assert (await submit(client, POTHOLE + "1"))[0] == 200
    assert (await submit(client, POTHOLE + "2"))[0] == 200
    status, html = await submit(client, POTHOLE + "3")
    assert status == 429 and "1分ほど待って" in html and POTHOLE + "3" in html


async def test_status_link_with_unknown_token_is_404(client):
    assert (await client.get("/status/" + "A" * 32)).status == 404
    assert (await client.get("/status/short")).status == 404


async def test_healthz_reports_schema_version(client):
    from storage.migrations import latest_version

    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok", "schema_version": latest_version()}


async def test_security_headers_on_pages(client):
    for path in ("/", "/submit", "/admin/login", "/voices/2026-000001"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"


async def test_notice_board_has_no_session_cookie_for_readers(client):
    resp = await client.get("/")
    assert "meyasubako_session" not in resp.cookies
