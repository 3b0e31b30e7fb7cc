"""The thin admin slice: login, roles and sections, publishing guard."""

from __future__ import annotations

from tests.conftest import PASSWORD, add_user, admin_post, csrf_of, login, receipt_of, submit

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL


async def test_admin_requires_login(client):
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/login"


async def test_wrong_password_is_rejected(client):
    await add_user(client.app, "koucho", "approver")
    page = await client.get("/admin/login")
    resp = await client.post("/admin/login", data={"csrf_token": csrf_of(await page.text()), "name": "koucho",
                                                    "password": PASSWORD + "x"})
    assert resp.status == 401 and "正しくありません" in await resp.text()


async def test_login_is_throttled(client):
    await add_user(client.app, "koucho", "approver")
    page = await client.get("/admin/login")
    token = csrf_of(await page.text())
    statuses = []
    for _ in range(12):
        resp = await client.post("/admin/login", data={"csrf_token": token, "name": "koucho", "password": "bad"})
        statuses.append(resp.status)
    assert statuses[0] == 401 and statuses[-1] == 429


async def test_staff_cannot_see_other_sections_items(client):
    _, html = await submit(client, "道路の穴を直してください。")
    receipt = receipt_of(html)
    await add_user(client.app, "root", "admin")
    await add_user(client.app, "fukushi", "staff", section="welfare")
    await login(client, "root")
    await admin_post(client, receipt, "route", {"section": "road"})
    client.session.cookie_jar.clear()
    await login(client, "fukushi")
    assert receipt not in await (await client.get("/admin/")).text()
    assert (await client.get(f"/admin/items/{receipt}")).status == 404
    page = await client.get("/admin/")
    resp = await client.post(f"/admin/items/{receipt}/answer",
                             data={"csrf_token": csrf_of(await page.text()), "body": "勝手な回答"})
    assert resp.status == 404


async def test_staff_cannot_publish(client):
    _, html = await submit(client, "道路の穴を直してください。")
    receipt = receipt_of(html)
    await add_user(client.app, "root", "admin")
    await add_user(client.app, "douro", "staff", section="road")
    await login(client, "root")
    await admin_post(client, receipt, "route", {"section": "road"})
    client.session.cookie_jar.clear()
    await login(client, "douro")
    resp = await admin_post(client, receipt, "answer", {"body": "補修します。"})
    assert resp.status == 200
    resp = await admin_post(client, receipt, "publish", {"summary": "道路の穴", "pii_confirmed": "1"})
    assert resp.status == 403


async def test_publish_refuses_unconfirmed_pii_in_summary(client):
    _, html = await submit(client, "道路の穴を直してください。連絡は090-1234-5678まで。")
    receipt = receipt_of(html)
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    await admin_post(client, receipt, "route", {"section": "road"})
    await admin_post(client, receipt, "answer", {"body": "補修します。"})
    resp = await admin_post(client, receipt, "publish", {"summary": "道路の穴。連絡は090-1234-5678まで。"})
    assert resp.status == 400 and "個人情報" in await resp.text()
    assert receipt not in await (await client.get("/")).text()
    # The masked draft offered to the approver does not contain the number.
    page = await (await client.get(f"/admin/items/{receipt}")).text()
    summary_box = page.split('id="summary"')[1].split("</textarea>")[0]
    assert "090-1234-5678" not in summary_box


async def test_logout_ends_the_session(client):
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    page = await client.get("/admin/")
    await client.post("/admin/logout", data={"csrf_token": csrf_of(await page.text())})
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 303
