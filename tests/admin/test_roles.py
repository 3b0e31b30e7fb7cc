"""Role and section isolation on every route, CSRF on every form, session expiry."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from meyasubako import keys
from storage import users as users_db
from tests.admin.helpers import as_user, events, get, new_item, post, setup_people, token
from tests.conftest import PASSWORD, csrf_of

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

ITEM_ACTIONS = {
    "route": {"section": "service"}, "accept": {}, "assign": {"assignee": "fukushi"}, "note": {"body": "見た"},
    "duplicate": {"original": "2026-000001"}, "close": {"reason": "mischief"}, "draft": {"body": "下書き"},
    "template": {"template_id": "1"}, "answer": {"body": "回答"}, "approve": {}, "reject": {"comment": "いいえ"},
    "publish": {"summary": "要旨", "pii_confirmed": "1"}, "unpublish": {"reason": "誤り"},
}


@pytest.fixture
async def world(client):
    people = await setup_people(client.app)
    road = await new_item(client.app, "家の前の道路に大きな穴があいています。", section="road", by=people["koucho"])
    welfare = await new_item(client.app, "介護保険の申請について相談したい。ひとり暮らしの母が心配です。",
                             section="welfare", by=people["koucho"])
    return people, road, welfare


async def test_staff_cannot_read_or_act_on_another_sections_item(client, world):
    _, road, welfare = world
    await as_user(client, "douro")
    assert (await client.get(f"/admin/items/{welfare.receipt_no}")).status == 404
    html = await (await client.get("/admin/")).text()
    assert road.receipt_no in html and welfare.receipt_no not in html
    # Even asking for the other section explicitly in the filter shows nothing of it.
    html = await (await client.get("/admin/?section=welfare")).text()
    assert welfare.receipt_no not in html
    for action, data in ITEM_ACTIONS.items():
        resp = await post(client, f"/admin/items/{welfare.receipt_no}/{action}", data)
        assert resp.status == 404, action
    assert (await get(client.app, welfare.receipt_no)).status == "routed"
    assert all(e.actor != "user:douro" for e in await events(client.app, welfare.receipt_no))


async def test_staff_export_bulk_and_dashboard_exclude_other_sections(client, world):
    _, road, welfare = world
    await as_user(client, "douro")
    csv_text = (await (await client.get("/admin/export.csv?section=welfare")).read()).decode("utf-8-sig")
    assert welfare.receipt_no not in csv_text and "介護保険" not in csv_text
    csv_text = (await (await client.get("/admin/export.csv")).read()).decode("utf-8-sig")
    assert road.receipt_no in csv_text and welfare.receipt_no not in csv_text
    resp = await post(client, "/admin/bulk", {"op": "close", "reason": "mischief", "item": welfare.receipt_no})
    assert resp.status == 303
    assert (await get(client.app, welfare.receipt_no)).status == "routed"
    html = await (await client.get("/admin/dashboard")).text()
    assert 'id="kpi-total">1件' in html


async def test_staff_similar_items_hide_other_sections(client, world):
    people, road, _ = world
    other = await new_item(client.app, "家の前の道路に大きな穴があいています。福祉の窓口にも伝えました。",
                           section="welfare", by=people["koucho"])
    await as_user(client, "douro")
    html = await (await client.get(f"/admin/items/{road.receipt_no}")).text()
    assert other.receipt_no not in html
    await as_user(client, "koucho")
    html = await (await client.get(f"/admin/items/{road.receipt_no}")).text()
    assert other.receipt_no in html.split('id="h-similar"')[1]


@pytest.mark.parametrize("path", ["/admin/users", "/admin/sections", "/admin/sections/road", "/admin/audit"])
async def test_admin_pages_are_for_admins_only(client, world, path):
    for name in ("douro", "koucho"):
        await as_user(client, name)
        assert (await client.get(path)).status == 403
    await as_user(client, "root")
    assert (await client.get(path)).status == 200


async def test_staff_and_approver_cannot_post_admin_forms(client, world):
    people, _, _ = world
    await as_user(client, "koucho")
    resp = await post(client, "/admin/users", {"name": "evil", "role": "admin", "password": "x" * 12})
    assert resp.status == 403
    resp = await post(client, f"/admin/users/{people['douro'].id}/disable", {})
    assert resp.status == 403


async def test_every_post_needs_the_csrf_token(client, world):
    people, road, _ = world
    await as_user(client, "root")
    paths = [f"/admin/items/{road.receipt_no}/{a}" for a in ITEM_ACTIONS] + [
        "/admin/bulk", "/admin/users", f"/admin/users/{people['douro'].id}/disable", "/admin/sections/road",
        "/admin/sections/road/templates", "/admin/logout"]
    for path in paths:
        resp = await client.post(path, data={"csrf_token": "forged", "section": "welfare", "op": "close",
                                             "item": road.receipt_no, "reason": "mischief"}, allow_redirects=False)
        assert resp.status == 403, path
        resp = await client.post(path, data={}, allow_redirects=False)
        assert resp.status == 403, path
    assert (await get(client.app, road.receipt_no)).status == "routed"


async def test_session_expires(make_client, settings):
    client = await make_client(dataclasses.replace(settings, session_max_age=0))
    await setup_people(client.app)
    page = await client.get("/admin/login")
    await client.post("/admin/login", data={"csrf_token": csrf_of(await page.text()), "name": "koucho",
                                             "password": PASSWORD}, allow_redirects=False)
    await asyncio.sleep(1.1)
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/login"


async def test_disabled_user_loses_access_at_once(client, world):
    people, road, _ = world
    await as_user(client, "douro")
    assert (await client.get(f"/admin/items/{road.receipt_no}")).status == 200
    async def disable(conn):  # type: ignore[no-untyped-def]
        await users_db.set_active(conn, people["douro"].id, False)

    await client.app[keys.DB].write(disable)
    resp = await client.get(f"/admin/items/{road.receipt_no}", allow_redirects=False)
    assert resp.status == 303


async def test_login_throttle_is_per_account_too(client, world):
    await token(client, "/admin/login")
    statuses = []
    for _ in range(11):
        page = await client.get("/admin/login")
        resp = await client.post("/admin/login", data={"csrf_token": csrf_of(await page.text()), "name": "douro",
                                                        "password": "wrong password"})
        statuses.append(resp.status)
    assert statuses[-1] == 429
    # The account stays throttled even with the right password.
    page = await client.get("/admin/login")
    resp = await client.post("/admin/login", data={"csrf_token": csrf_of(await page.text()), "name": "douro",
                                                    "password": PASSWORD})
    assert resp.status == 429
