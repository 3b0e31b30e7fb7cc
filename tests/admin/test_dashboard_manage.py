"""Dashboard figures and SVG charts, CSV export, user and section administration, learning."""

from __future__ import annotations

import asyncio
import re

from admin import learning
from meyasubako import keys
from storage import staff as staff_db
from tests.admin.helpers import as_user, flash_text, get, jst, new_item, post, setup_people
from tests.conftest import csrf_of

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL


async def test_dashboard_figures_charts_and_csv(client):
    people = await setup_people(client.app)
    wf = client.app[keys.WORKFLOW]
    a = await new_item(client.app, "家の前の道路に大きな穴があいています。", at=jst(2026, 10, 1))
    b = await new_item(client.app, "公園の遊具が壊れています。", at=jst(2026, 10, 2))
    await wf.route(a.receipt_no, "road", people["koucho"])
    await wf.route(b.receipt_no, "park", people["koucho"])
    wf.now = lambda: jst(2026, 10, 5)
    await wf.save_answer(a.receipt_no, "補修しました。", people["koucho"])
    await wf.publish(a.receipt_no, "道路の穴", people["koucho"])
    wf.now = lambda: jst(2026, 10, 12)
    await wf.close(b.receipt_no, "mischief", people["koucho"])
    await as_user(client, "koucho")
    html = await (await client.get("/admin/dashboard")).text()
    assert 'id="kpi-total">2件' in html
    assert 'id="kpi-median">7.0日' in html  # 4 and 10 calendar days
    assert "公開" in html and "非公開（いたずら）" in html and "2026年10月" in html
    for kind in ("section", "status", "channel", "month", "outcome"):
        resp = await client.get(f"/admin/charts/{kind}.svg")
        body = await resp.text()
        assert resp.status == 200 and resp.content_type == "image/svg+xml" and "<svg" in body
        assert "<script" not in body
        assert f'src="/admin/charts/{kind}.svg"' in html
    assert (await client.get("/admin/charts/evil.svg")).status == 404
    resp = await client.get("/admin/export.csv?status=published")
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf") and resp.headers["Content-Type"].startswith("text/csv")
    text = raw.decode("utf-8-sig")
    assert a.receipt_no in text and b.receipt_no not in text and "補修しました。" in text
    async with client.app[keys.DB].read() as conn:
        entries = await staff_db.recent_audit(conn)
    assert entries[0].action == "export_csv" and entries[0].actor == "user:koucho" and "status=published" in entries[0].note
    # Staff see their section's figures only.
    await as_user(client, "fukushi")
    assert 'id="kpi-total">0件' in await (await client.get("/admin/dashboard")).text()


async def test_admin_creates_disables_and_resets_users(client):
    await setup_people(client.app)
    await as_user(client, "root")
    for bad in ({"name": "x", "role": "staff", "section": "road"}, {"name": "<script>", "role": "staff"},
                {"name": "okok", "role": "god"}, {"name": "okok", "role": "staff"},
                {"name": "okok", "role": "staff", "section": "nowhere"},
                {"name": "okok", "role": "staff", "section": "road", "password": "short"}):
        resp = await post(client, "/admin/users", bad, page="/admin/users")
        assert resp.status == 400, bad
    resp = await post(client, "/admin/users", {"name": "douro", "role": "staff", "section": "road"}, page="/admin/users")
    assert resp.status == 409
    resp = await post(client, "/admin/users", {"name": "kouen", "role": "staff", "section": "park"}, page="/admin/users")
    assert resp.status == 303
    html = await (await client.get("/admin/users")).text()
    password = re.search(r"初期パスワード: (\S+)", flash_text(html)).group(1)
    assert password not in await (await client.get("/admin/users")).text()  # shown once
    client.session.cookie_jar.clear()
    page = await client.get("/admin/login")
    resp = await client.post("/admin/login", data={"csrf_token": csrf_of(await page.text()), "name": "kouen",
                                                    "password": password})
    assert resp.status == 200 and "公園・緑地" in await resp.text()
    await as_user(client, "root")
    html = await (await client.get("/admin/users")).text()
    uid = re.search(r'/admin/users/(\d+)/disable" class="inline"><input type="hidden" name="csrf_token" value="[^"]+">'
                    r'<button type="submit" class="small">無効にする</button></form>\s*<form method="post" '
                    r'action="/admin/users/\1/reset"[^>]*>[^<]*<input[^>]*>\s*<label for="pw-\1"[^>]*>kouen', html)
    assert uid, "kouen's row not found"
    uid = uid.group(1)
    assert (await post(client, f"/admin/users/{uid}/reset", {"password": "new password 123"}, page="/admin/users")).status == 303
    assert (await post(client, f"/admin/users/{uid}/disable", {}, page="/admin/users")).status == 303
    assert (await post(client, "/admin/users/999999/disable", {}, page="/admin/users")).status == 404
    async with client.app[keys.DB].read() as conn:
        actions = [e.action for e in await staff_db.recent_audit(conn)]
    assert actions[:3] == ["user_disable", "user_reset_password", "user_create"]
    client.session.cookie_jar.clear()
    page = await client.get("/admin/login")
    resp = await client.post("/admin/login", data={"csrf_token": csrf_of(await page.text()), "name": "kouen",
                                                    "password": "new password 123"})
    assert resp.status == 401  # disabled


async def test_section_edit_reloads_and_is_validated(client):
    await setup_people(client.app)
    await as_user(client, "root")
    for bad in ({"name": "", "unit": "u", "deadline_days": "5"}, {"name": "n", "unit": "u", "deadline_days": "0"},
                {"name": "n", "unit": "u", "deadline_days": "abc"}, {"name": "n" * 101, "deadline_days": "5"}):
        assert (await post(client, "/admin/sections/road", bad, page="/admin/sections/road")).status == 400
    assert (await client.get("/admin/sections/nowhere")).status == 404
    resp = await post(client, "/admin/sections/road", {"name": "道路課", "unit": "土木部", "deadline_days": "15",
                                                       "active": "1"}, page="/admin/sections/road")
    assert resp.status == 303
    assert client.app[keys.SECTIONS]["road"].name == "道路課"
    assert client.app[keys.WORKFLOW].deadline_days["road"] == 15
    assert "道路課" in await (await client.get("/admin/")).text()


async def test_person_routing_feeds_a_debounced_retrain(client):
    people = await setup_people(client.app)
    learning.set_debounce(client.app, 0.05)
    nlp = client.app[keys.NLP]
    sub = await new_item(client.app, "図書館の開館時間を延ばしてほしい。")
    assert (await get(client.app, sub.receipt_no)).routed_by == "system"
    await as_user(client, "koucho")
    for section in ("facilities", "education", "facilities"):  # three quick re-routes → one retrain
        await post(client, f"/admin/items/{sub.receipt_no}/route", {"section": section})
    assert (await get(client.app, sub.receipt_no)).routed_by == "user:koucho"
    for _ in range(100):
        if nlp.model_examples:
            break
        await asyncio.sleep(0.05)
    assert nlp.model_examples == 1
    async with client.app[keys.DB].read() as conn:
        assert await staff_db.routing_examples(conn) == [(sub.text, "facilities")]
    _ = people
