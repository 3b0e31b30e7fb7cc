"""Hostile input at ``POST /open311/v2/requests.json`` and what becomes of it after publication.

tests/public/test_open311.py covers missing fields, an oversized description (400) and body (413),
invalid UTF-8, a JSON body, a key replay and the per-address limit. Here: control characters,
multipart uploads in place of fields, repeated and garbage consent attributes, SQL metacharacters,
concurrent replays of one Idempotency-Key, and script-bearing text escaped on every public surface
(board, item page, Atom feeds, open data, the Open311 API itself) once staff have published it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import urllib.parse

import aiohttp
import pytest

from meyasubako import keys
from tests.public.conftest import approver, make_item

URL = "/open311/v2/requests.json"
POST = {"service_code": "road", "description": "市道の穴が危ないです。補修してください。", "attribute[consent]": "yes"}
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>]]></summary><!-- &amp; \'"'
SQL = "'; DROP TABLE submissions; -- \" OR 1=1 --"


async def count(client, sql: str = "SELECT COUNT(*) FROM submissions") -> int:  # type: ignore[no-untyped-def]
    async with client.app[keys.DB].read() as conn:
        async with conn.execute(sql) as cur:
            return int((await cur.fetchone())[0])


def assert_open311_error(body, code: int) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(body, list) and len(body) == 1 and body[0]["code"] == code and body[0]["description"]


def strings(obj: object) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    return [s for v in obj for s in strings(v)] if isinstance(obj, list) else []


async def stored(client, rid: str) -> tuple:  # type: ignore[no-untyped-def]
    async with client.app[keys.DB].read() as conn:
        async with conn.execute("SELECT text, place, contact, consent, section FROM submissions WHERE receipt_no = ?",
                                (rid,)) as cur:
            return tuple(await cur.fetchone())


async def test_control_characters_are_stripped_and_sql_is_just_text(client):
    data = {**POST, "description": f"\x00\x1b[31m道路{SQL}\u202e\r\n二行目\x7f", "address_string": "桜町\x00\t3丁目",
            "last_name": "山田\x08", "email": "a@example.jp\r\nBcc: x@example.jp"}
    resp = await client.post(URL, data=data)
    assert resp.status == 201
    rid = (await resp.json())[0]["service_request_id"]
    text, place, contact, consent, section = await stored(client, rid)
    assert "\x00" not in text and "\x1b" not in text and "\x7f" not in text and SQL in text
    assert "\x00" not in place and "\r" not in contact and "\n" not in contact
    assert (consent, section) == (1, "road")
    assert await count(client) == 1  # the table is still there, with one row


@pytest.mark.parametrize("consent", [["yes", "no"], ["no", "yes"], ["YES"], [" yes"], ["はい"], ["1"], ["true"],
                                     ["yes\x00"], [""], ["yes" * 1000]])
async def test_consent_garbage_is_refused(client, consent):
    body = urllib.parse.urlencode([(k, v) for k, v in POST.items() if k != "attribute[consent]"]
                                  + [("attribute[consent]", c) for c in consent]).encode()
    resp = await client.post(URL, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    if consent[0] in ("yes", "no"):  # a repeated attribute: the first one counts, as for every form field
        assert resp.status == 201
    else:
        assert resp.status == 400
        assert_open311_error(await resp.json(), 400)


@pytest.mark.parametrize("code", ["", " ", "ROAD", "road\x00", "road ", "../road", "road' OR '1'='1", "道路", "x" * 5000,
                                  "%00", "<script>"])
async def test_missing_or_invalid_service_code_is_400(client, code):
    resp = await client.post(URL, data={**POST, "service_code": code})
    if code.strip().strip("\x00") == "road":  # whitespace and controls are trimmed like in every other field
        assert resp.status == 201
        return
    assert resp.status == 400
    body = await resp.json()
    assert_open311_error(body, 400)
    assert "<script>" not in body[0]["description"]
    assert await count(client) == 0


async def test_multipart_file_in_place_of_a_field_is_refused_not_500(client):
    form = aiohttp.FormData()
    form.add_field("service_code", "road")
    form.add_field("attribute[consent]", "yes")
    form.add_field("description", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, filename="x.png", content_type="image/png")
    resp = await client.post(URL, data=form)
    assert resp.status == 400, await resp.text()
    assert_open311_error(await resp.json(), 400)
    form = aiohttp.FormData()
    for k, v in POST.items():
        form.add_field(k, v)
    resp = await client.post(URL, data=form)  # multipart with plain fields is fine
    assert resp.status == 201


@pytest.mark.parametrize("raw", [
    b"service_code=road&attribute%5Bconsent%5D=yes&description=%ff%fe%00",       # invalid UTF-8, percent-encoded
    b"service_code=road&attribute%5Bconsent%5D=yes&description=%ED%A0%80",        # a surrogate in UTF-8 form
    b"service_code=road&attribute%5Bconsent%5D=yes&description=%E3%81",            # truncated UTF-8
])
async def test_invalid_utf8_in_percent_escapes_is_refused_or_replaced(client, raw):
    # Percent-escapes are decoded with replacement (U+FFFD), as for the web form: never a crash,
    # never a lone surrogate or a NUL in the database.
    resp = await client.post(URL, data=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status in (201, 400), (raw[:80], resp.status)
    if resp.status == 201:
        text = (await stored(client, (await resp.json())[0]["service_request_id"]))[0]
        text.encode("utf-8")  # no lone surrogates
        assert text and "\x00" not in text


@pytest.mark.parametrize("raw", [
    b"service_code=road&attribute%5Bconsent%5D=yes&description=\xe3\x81",          # truncated UTF-8, raw
    b"service_code=road&&&===&attribute%5Bconsent%5D=yes&description",
    b"%" * 1000,
    b"description=" + b"%E3%81%82" * 4001 + b"&service_code=road&attribute%5Bconsent%5D=yes",
])
async def test_broken_encodings_are_400(client, raw):
    resp = await client.post(URL, data=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 400, (raw[:80], resp.status, await resp.text())
    assert_open311_error(await resp.json(), 400)
    assert await count(client) == 0


async def test_concurrent_replays_of_one_key_give_one_request(client):
    h = {"Idempotency-Key": "9d0f7c9e-1111-4222-8333-444455556666"}
    resps = await asyncio.gather(*(client.post(URL, data=POST, headers=h) for _ in range(12)))
    ids = {(await r.json())[0]["service_request_id"] for r in resps}
    assert len(ids) == 1
    assert sorted(r.status for r in resps).count(201) == 1
    assert await count(client) == 1
    # A replay with other content still answers with the first request, and changes nothing.
    again = await client.post(URL, data={**POST, "description": "別の内容です。"}, headers=h)
    assert again.status == 200 and (await again.json())[0]["service_request_id"] in ids
    assert await count(client) == 1


async def test_published_script_is_escaped_everywhere_it_appears(client):
    resp = await client.post(URL, data={**POST, "description": f"{SCRIPT} 道路の穴 {SQL}"})
    assert resp.status == 201
    user = await approver(client.app)
    # Staff paste the resident's words into the 要旨 and quote them in the answer.
    made = await make_item(client.app, f"{SCRIPT} 道路の穴", user=user, summary=f"要旨 {SCRIPT}",
                           answer=f"回答 {SCRIPT}")
    rid = made.receipt_no
    pages = ["/", f"/voices/{rid}", "/?q=" + urllib.parse.quote("要旨"), "/feed.atom", "/sections/road/feed.atom",
             "/opendata", "/stats"]
    for path in pages:
        r = await client.get(path)
        assert r.status == 200, path
        body = await r.text()
        assert "<script>alert" not in body and "<img src=x" not in body and "]]></summary><!--" not in body, path
    voice = await (await client.get(f"/voices/{rid}")).text()
    assert "&lt;script&gt;alert(" in voice  # shown, escaped, not dropped
    feed = await (await client.get("/feed.atom")).text()
    assert "&lt;script&gt;" in feed or "&amp;lt;script" in feed
    # Data formats carry the text verbatim, in a type no browser renders as HTML.
    for path in ("/opendata/voices.json", f"/open311/v2/requests/{rid}.json", "/open311/v2/requests.json"):
        r = await client.get(path)
        assert r.status == 200 and r.content_type == "application/json", path
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert any(SCRIPT in v for v in strings(await r.json())), path  # verbatim, not mangled
    r = await client.get("/opendata/voices.csv")
    assert r.status == 200 and r.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert any(f"要旨 {SCRIPT}" in cell for row in rows for cell in row)
