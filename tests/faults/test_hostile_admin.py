"""Hostile use of the staff site (OWASP ASVS level 2, V2 authentication, V3 sessions, V4 access, V13 CSRF)."""

from __future__ import annotations

from meyasubako import keys
from tests.conftest import PASSWORD, add_user, admin_post, csrf_of, login, receipt_of, submit
from tests.faults.test_hostile_web import assert_security_headers

COOKIE = "meyasubako_session"


def _cookie(client) -> str | None:  # type: ignore[no-untyped-def]
    for c in client.session.cookie_jar:
        if c.key == COOKIE:
            return c.value
    return None


def _set_cookie(client, value: str) -> None:  # type: ignore[no-untyped-def]
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: value})


async def _try_login(client, name: str, password: str):  # type: ignore[no-untyped-def]
    page = await client.get("/admin/login")
    return await client.post("/admin/login", data={"csrf_token": csrf_of(await page.text()), "name": name,
                                                    "password": password}, allow_redirects=False)


async def test_brute_force_is_throttled_even_for_the_right_password(client) -> None:  # type: ignore[no-untyped-def]
    await add_user(client.app, "koucho", "approver")
    statuses = [(await _try_login(client, "koucho", f"wrong-{i}")).status for i in range(10)]
    assert statuses == [401] * 10
    resp = await _try_login(client, "koucho", PASSWORD)  # the attacker guessed right, too late
    assert resp.status == 429
    assert "ログインの試行が多すぎます" in await resp.text()
    assert (await client.get("/admin/", allow_redirects=False)).status == 303  # no session was made


async def test_unknown_user_and_wrong_password_look_the_same(client) -> None:  # type: ignore[no-untyped-def]
    await add_user(client.app, "koucho", "approver")
    a = await _try_login(client, "koucho", "wrong password")
    b = await _try_login(client, "nobody-here", "wrong password")
    assert a.status == b.status == 401
    msg = "ユーザー名またはパスワードが正しくありません。"
    assert msg in await a.text() and msg in await b.text()


async def test_session_fixation_a_planted_cookie_never_becomes_a_login(client) -> None:  # type: ignore[no-untyped-def]
    await add_user(client.app, "koucho", "approver")
    await client.get("/admin/login")
    planted = _cookie(client)  # the attacker's own pre-login session, planted in the victim's browser
    assert planted
    await login(client, "koucho")
    after = _cookie(client)
    assert after and after != planted  # a fresh session at login
    _set_cookie(client, planted)  # the attacker replays the planted cookie
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/login"


async def test_session_cookie_flags(client) -> None:  # type: ignore[no-untyped-def]
    await add_user(client.app, "koucho", "approver")
    resp = await _try_login(client, "koucho", PASSWORD)
    assert resp.status == 303
    raw = ";".join(resp.headers.getall("Set-Cookie")).lower()
    assert "httponly" in raw and "samesite=lax" in raw


async def test_a_copied_session_cookie_dies_at_logout(client) -> None:  # type: ignore[no-untyped-def]
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    stolen = _cookie(client)
    page = await client.get("/admin/")
    await client.post("/admin/logout", data={"csrf_token": csrf_of(await page.text())})
    _set_cookie(client, stolen)
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 303


async def test_csrf_on_login_logout_and_actions(client) -> None:  # type: ignore[no-untyped-def]
    await add_user(client.app, "koucho", "approver")
    resp = await client.post("/admin/login", data={"name": "koucho", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 403  # login CSRF: an attacker cannot log a victim into the attacker's account
    # a token from another browser's session is not this session's token
    other_page = await client.get("/admin/login")
    foreign = csrf_of(await other_page.text())
    _set_cookie(client, "")
    resp = await client.post("/admin/login", data={"csrf_token": foreign, "name": "koucho", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 403
    _, html = await submit(client, "道路の穴を直してください。")
    receipt = receipt_of(html)
    await login(client, "koucho")
    for action, data in [("route", {"section": "park"}), ("answer", {"body": "回答"}), ("close", {"reason": "mischief"})]:
        resp = await client.post(f"/admin/items/{receipt}/{action}", data={**data, "csrf_token": foreign})
        assert resp.status == 403, action
    resp = await client.post("/admin/logout", data={})
    assert resp.status == 403
    assert (await client.get("/admin/")).status == 200  # still logged in: the forged logout did nothing
    async with client.app[keys.DB].read() as conn, conn.execute(
        "SELECT status, section FROM submissions WHERE receipt_no = ?", (receipt,)
    ) as cur:
        status, section = await cur.fetchone()
    assert status == "routed" and section != "park"


async def test_staff_cannot_reach_another_sections_item_by_url(client) -> None:  # type: ignore[no-untyped-def]
    _, html = await submit(client, "道路に大きな穴があいています。補修してください。")
    receipt = receipt_of(html)
    await add_user(client.app, "root", "admin")
    await add_user(client.app, "kouen", "staff", section="park")
    await login(client, "root")
    await admin_post(client, receipt, "route", {"section": "road"})
    async with client.app[keys.DB].read() as conn, conn.execute("SELECT COUNT(*) FROM events") as cur:
        events_before = (await cur.fetchone())[0]
    client.session.cookie_jar.clear()
    await login(client, "kouen")
    page = await client.get("/admin/")
    token = csrf_of(await page.text())
    assert (await client.get(f"/admin/items/{receipt}")).status == 404
    for action, data in [("route", {"section": "park"}), ("answer", {"body": "横取りの回答"}),
                         ("publish", {"summary": "横取り", "pii_confirmed": "1"}), ("close", {"reason": "mischief"}),
                         ("no_such_action", {})]:
        resp = await client.post(f"/admin/items/{receipt}/{action}", data={**data, "csrf_token": token})
        assert resp.status == 404, action  # the same answer as for a number that does not exist
        assert receipt not in await resp.text() or action == "no_such_action"
    assert (await client.get("/admin/?q=穴")).status == 200
    assert receipt not in await (await client.get("/admin/?q=穴&status=routed")).text()
    async with client.app[keys.DB].read() as conn, conn.execute("SELECT COUNT(*) FROM events") as cur:
        assert (await cur.fetchone())[0] == events_before


async def test_admin_pages_carry_security_headers_and_no_cache(client) -> None:  # type: ignore[no-untyped-def]
    _, html = await submit(client, "公園のトイレを清掃してください。")
    receipt = receipt_of(html)
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    for path, status in [("/admin/", 200), (f"/admin/items/{receipt}", 200), ("/admin/items/2026-999999", 404),
                         ("/admin/login", 200), ("/admin/nothing", 404)]:
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == status, path
        assert_security_headers(resp, path)
        assert resp.headers.get("Cache-Control") == "no-store", path  # staff pages hold personal data


async def test_admin_query_garbage(client) -> None:  # type: ignore[no-untyped-def]
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    for params in [{"page": "-5"}, {"page": "x"}, {"page": "99999"}, {"status": "' OR 1=1"}, {"q": '"*NEAR('},
                   {"q": "\x00" * 10}, {"q": "あ" * 600}]:
        resp = await client.get("/admin/", params=params)
        assert resp.status == 200, params


async def test_admin_queue_huge_page_number(client) -> None:  # type: ignore[no-untyped-def]
    await add_user(client.app, "koucho", "approver")
    await login(client, "koucho")
    resp = await client.get("/admin/", params={"page": "9" * 30})
    assert resp.status == 200
