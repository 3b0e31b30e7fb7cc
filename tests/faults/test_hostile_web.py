"""Hostile input on the public side: bytes, sizes, injections, traversal, headers on every answer."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from aiohttp import FormData

from meyasubako import keys
from tests.conftest import csrf_of, receipt_of, status_link_of, submit

POTHOLE = "家の前の市道に大きな穴があいていて危ないです。"


async def _stored(client) -> list[tuple]:  # type: ignore[no-untyped-def]
    async with client.app[keys.DB].read() as conn, conn.execute(
        "SELECT text, place, contact FROM submissions ORDER BY id"
    ) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def _token(client) -> str:  # type: ignore[no-untyped-def]
    return csrf_of(await (await client.get("/submit")).text())


def _form(token: str, tail: bytes) -> bytes:
    return f"csrf_token={token}&consent=yes&form_id={uuid.uuid4().hex}&".encode() + tail


URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("tail", [
    b"text=\xff\xfe\xfd",                                   # raw bytes that are not UTF-8
    b"text=%FF%FE%FD",                                      # the same, percent-encoded
    b"text=%E3%81",                                         # a truncated multi-byte sequence
    b"text=\xe5\x85\xac\xe5\x9c\x92\x00\x00",               # NULs after valid text
    b"text=%ED%A0%80",                                      # an encoded UTF-16 surrogate
    b"text=" + "公園".encode("shift_jis"),                   # another encoding altogether
])
async def test_invalid_utf8_is_refused_or_stored_clean(client, tail: bytes) -> None:  # type: ignore[no-untyped-def]
    resp = await client.post("/submit", data=_form(await _token(client), tail), headers=URLENCODED)
    assert resp.status in (200, 400), await resp.text()
    rows = await _stored(client)
    if resp.status == 200:
        receipt_of(await resp.text())
        (text, _, _), = rows
        assert "\x00" not in text and "\ud800" not in text
        text.encode("utf-8")  # what is stored is valid Unicode
    else:
        assert rows == []


async def test_control_and_invisible_characters_are_removed(client) -> None:  # type: ignore[no-untyped-def]
    # NUL, BEL, ESC (terminal escape), zero-width space, right-to-left override (a "Trojan source"
    # trick to make the text read differently to staff than it is stored), a lone BOM.
    status, html = await submit(client, "\x00\x07道路\x1b[31mの穴\u200b\u202eです\ufeff\r\n二行目", place="駅前\t\x0b")
    assert status == 200
    assert await _stored(client) == [("道路[31mの穴です\n二行目", "駅前", None)]


async def test_sql_metacharacters_are_data(client) -> None:  # type: ignore[no-untyped-def]
    text = "'; DROP TABLE submissions; -- \" OR 1=1 -- ) UNION SELECT password_hash FROM users --"
    status, html = await submit(client, text, place="1' OR '1'='1", contact="a@b.jp'--")
    assert status == 200
    assert await _stored(client) == [(text, "1' OR '1'='1", "a@b.jp'--")]
    board = await client.get("/?q=" + "') OR 1=1 --")
    assert board.status == 200


@pytest.mark.parametrize("field,size,status", [("place", 201, 400), ("contact", 201, 400), ("text", 4001, 400),
                                               ("place", 200, 200), ("contact", 200, 200)])
async def test_field_size_limits(client, field: str, size: int, status: int) -> None:  # type: ignore[no-untyped-def]
    kw = {"place": "", "contact": ""}
    text = POTHOLE
    if field == "text":
        text = "あ" * size
    else:
        kw[field] = "あ" * size
    got, html = await submit(client, text, **kw)
    assert got == status
    assert len(await _stored(client)) == (1 if status == 200 else 0)


async def test_body_over_the_limit_is_413_before_parsing(client) -> None:  # type: ignore[no-untyped-def]
    token = await _token(client)
    resp = await client.post("/submit", data=_form(token, b"text=" + b"a" * (1024 * 1024 + 1)), headers=URLENCODED)
    assert resp.status == 413 and "大きすぎます" in await resp.text()
    html = await resp.text()
    assert "送信された内容が大きすぎます" in html
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert await _stored(client) == []


async def test_many_fields_and_odd_shapes_do_not_break_the_form(client) -> None:  # type: ignore[no-untyped-def]
    token = await _token(client)
    junk = b"&".join(b"f%d=%d" % (i, i) for i in range(900))
    resp = await client.post("/submit", data=_form(token, junk + b"&text=" + POTHOLE.encode()), headers=URLENCODED)
    assert resp.status == 200 and receipt_of(await resp.text())
    flood = b"&".join(b"f%d=%d" % (i, i) for i in range(5000))  # aiohttp caps the field count at 1000
    resp = await client.post("/submit", data=_form(token, flood + b"&text=x"), headers=URLENCODED)
    assert resp.status == 413 and "大きすぎます" in await resp.text()
    # the same field twice: the first one counts, the second does not sneak in
    resp = await client.post("/submit", data=_form(token, f"text=一つ目&text={'x' * 5000}".encode()), headers=URLENCODED)
    assert resp.status == 200
    # a file where text is expected: not text, so the form asks for it again
    form = FormData({"csrf_token": token, "consent": "yes", "form_id": uuid.uuid4().hex})
    form.add_field("text", b"<script>", filename="x.html", content_type="text/html")
    resp = await client.post("/submit", data=form)
    assert resp.status == 400
    # JSON instead of a form: no CSRF token can be read from it
    resp = await client.post("/submit", json={"text": POTHOLE, "consent": "yes", "csrf_token": token})
    assert resp.status == 403
    assert [r[0] for r in await _stored(client)] == [POTHOLE, "一つ目"]


async def test_rate_limit_is_friendly_and_does_not_count_a_resubmitted_form(make_client, settings) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(replace(settings, rate_limit=2))
    page = await (await client.get("/submit")).text()
    token = csrf_of(page)
    first = {"csrf_token": token, "form_id": "first-form-0001", "text": POTHOLE, "consent": "yes"}
    resp = await client.post("/submit", data=first)
    receipt = receipt_of(await resp.text())
    assert (await submit(client, POTHOLE + "2"))[0] == 200
    status, html = await submit(client, POTHOLE + "3")
    assert status == 429 and "1分ほど待って" in html and "送信が多すぎます" not in html[:0]
    # a double click on the first form after the limit is hit still shows its receipt
    again = await client.post("/submit", data=first)
    assert again.status == 200 and receipt_of(await again.text()) == receipt
    assert len(await _stored(client)) == 2


async def test_rate_limited_form_says_when_to_retry(make_client, settings) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(replace(settings, rate_limit=1))
    await submit(client, POTHOLE)
    page = await (await client.get("/submit")).text()
    resp = await client.post("/submit", data={"csrf_token": csrf_of(page), "form_id": "x" * 20, "text": POTHOLE + "2",
                                              "consent": "yes"})
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


FTS_LIKE = ['"', '""', "*", "NEAR(道路 穴)", "道路 OR 公園", "-道路", "^公園", "道路 AND",
                               "\x00", "{}[]()", "'" * 500, "公園" * 300, "%", "\\"]


async def test_board_search_takes_fts_syntax_as_words(client) -> None:  # type: ignore[no-untyped-def]
    for q in FTS_LIKE:  # one app for all cases: building one costs more than the requests
        resp = await client.get("/", params={"q": q, "page": "2", "section": "road"})
        assert resp.status == 200, q


BOARD_GARBAGE = [{"page": "-1"}, {"page": "0"}, {"page": "9" * 40}, {"page": "1e9"},
                                    {"page": "١٢"}, {"section": "' OR 1=1 --"}, {"section": "road\x00"}]


async def test_board_paging_and_section_garbage(client) -> None:  # type: ignore[no-untyped-def]
    for params in BOARD_GARBAGE:
        resp = await client.get("/", params=params)
        assert resp.status == 200, params


TRAVERSALS = [
    "/static/../meyasubako/settings.py", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fstorage%2fdb.py",
    "/static/..%5c..%5cstorage%5cdb.py", "/static//etc/passwd", "/static/style.css%00.py", "/static/%2e%2e%2f",
    "/static/../../../../etc/passwd", "/status/..%2f..%2fadmin%2f", "/voices/2026-000001%2f..%2f..%2fadmin",
]


async def test_path_traversal_reaches_nothing(client) -> None:  # type: ignore[no-untyped-def]
    from yarl import URL

    for path in TRAVERSALS:
        resp = await client.get(URL(path, encoded=True), allow_redirects=False)
        body = await resp.text()
        assert resp.status in (200, 400, 403, 404), (path, resp.status)
        for secret in ("root:x:", "import ", "SECRET", "def ", "受付一覧"):
            assert secret not in body, (path, secret)


STATIC_TRAVERSALS = [
    "/static/../meyasubako/settings.py", "/static/%2e%2e/meyasubako/settings.py", "/static/%2E%2E%2Fmeyasubako%2Fsettings.py",
    "/static/%252e%252e%252fmeyasubako%252fsettings.py",       # double-encoded
    "/static/%c0%ae%c0%ae/meyasubako/settings.py",             # overlong UTF-8 dots
    "/static/..\\meyasubako\\settings.py", "/static/..%5cmeyasubako%5csettings.py", "/static/..;/meyasubako/settings.py",
    "/static/%2fetc%2fpasswd", "/static/%2F%2Fetc/passwd", "/static/\uff0e\uff0e/meyasubako/settings.py",
    "/static/./../meyasubako/settings.py", "/static/style.css/../../meyasubako/settings.py",
    "/static/..%00/meyasubako/settings.py", "/static/" + "../" * 40 + "etc/passwd",
]


async def test_static_traversal_is_refused_and_shows_no_file(client) -> None:  # type: ignore[no-untyped-def]
    from yarl import URL

    for path in STATIC_TRAVERSALS:
        resp = await client.get(URL(path, encoded=True), allow_redirects=False)
        body = await resp.read()
        assert resp.status in (400, 403, 404), (path, resp.status)
        for secret in (b"root:x:", b"import ", b"SECRET", b"def ", b"dataclass"):
            assert secret not in body, (path, secret)
    assert (await client.get("/static/style.css")).status == 200  # the real file is still served


ATTACHMENT_IDS = ["..%2f..%2fmeyasubako%2fsettings.py", "%2e%2e%2f1", "1%2f..%2f..%2fsecret_key", "1/../../../etc/passwd",
                  "0x1", "1e3", "99999999999999999999", "%EF%BC%91", "-1", "1%00", "1;", "1%20"]


async def test_attachment_ids_that_look_like_paths_are_404_even_for_an_admin(client) -> None:  # type: ignore[no-untyped-def]
    from yarl import URL

    from tests.conftest import add_user, login

    await add_user(client.app, "kanri", "admin")
    await login(client, "kanri")
    for ident in ATTACHMENT_IDS:
        resp = await client.get(URL("/admin/attachments/" + ident, encoded=True), allow_redirects=False)
        assert resp.status in (400, 403, 404), (ident, resp.status)
        body = await resp.read()
        assert b"import " not in body and b"root:x:" not in body and not body.startswith(b"\xff\xd8")


async def test_status_links_with_hostile_tokens(client) -> None:  # type: ignore[no-untyped-def]
    for token in ["A" * 15, "A" * 65, "A" * 5000, "%00" * 20, "公園" * 10, "' OR 1=1 --xxxxxxxxxx"]:
        resp = await client.get("/status/" + token)
        assert resp.status == 404, token
    status, html = await submit(client, POTHOLE)
    link = status_link_of(html)
    assert (await client.get(link)).status == 200
    assert (await client.get(link[:-1] + ("A" if link[-1] != "A" else "B"))).status == 404


async def test_garbage_session_cookie_is_a_new_session(client) -> None:  # type: ignore[no-untyped-def]
    for cookie in ["garbage", "A" * 4000, "gAAAAA" + "x" * 200, ""]:
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({"meyasubako_session": cookie})
        status, html = await submit(client, POTHOLE + cookie[:3])
        assert status == 200 and receipt_of(html)


async def test_over_long_request_line_is_refused_by_the_protocol(client) -> None:  # type: ignore[no-untyped-def]
    resp = await client.get("/", params={"q": "公園" * 2000})
    assert resp.status in (400, 414)


ERROR_CASES = [
    ("GET", "/no/such/page", None, 404), ("PUT", "/submit", None, 405), ("DELETE", "/", None, 405),
    ("POST", "/submit", {"text": "x"}, 403), ("GET", "/voices/2026-999999", None, 404),
    ("GET", "/status/" + "A" * 32, None, 404), ("GET", "/", None, 200), ("GET", "/submit", None, 200),
    ("GET", "/admin/login", None, 200), ("GET", "/healthz", None, 200), ("GET", "/static/style.css", None, 200),
    ("GET", "/submit/done?f=x", None, 404),
]


def assert_security_headers(resp, where: str) -> None:  # type: ignore[no-untyped-def]
    h = resp.headers
    csp = h["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp, where
    assert h["X-Content-Type-Options"] == "nosniff", where
    assert h["Referrer-Policy"] == "no-referrer", where
    assert h["X-Frame-Options"] == "DENY", where


async def test_security_headers_on_every_answer(client) -> None:  # type: ignore[no-untyped-def]
    for method, path, data, status in ERROR_CASES:
        resp = await client.request(method, path, data=data, allow_redirects=False)
        assert resp.status == status, (method, path)
        assert_security_headers(resp, f"{method} {path}")
        if status >= 400:
            body = await resp.text()
            assert "Traceback" not in body and "aiohttp" not in body.lower(), path
            assert resp.content_type in ("text/html", "text/plain"), path


async def test_error_pages_are_japanese_and_escape_the_path(client) -> None:  # type: ignore[no-untyped-def]
    resp = await client.get("/<script>alert(1)</script>")
    html = await resp.text()
    assert resp.status == 404 and "ページが見つかりません" in html and "<script>alert" not in html
